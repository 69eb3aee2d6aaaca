//! The fair dispatcher against a real nats-server: runs are submitted with
//! `moat_queue::submit` exactly as the edge does, and taken with
//! `Dispatcher::next` exactly as a launcher does (no sandbox: a test here
//! plays the launcher and acknowledges by hand).

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use async_nats::jetstream;
use moat_queue::consumers::ConsumerSettings;
use moat_queue::{
    streams, ClientKey, Delivery, DispatchSettings, Dispatcher, QueueLimits, Role, SubmitError,
};
use moat_testkit::Nats;
use moat_wire::{Job, RunRequest};
use tokio_util::sync::CancellationToken;

/// The streams made; JetStream as the edge (which submits) and as a
/// launcher (which dispatches), each with only its own user's rights.
async fn setup(nats: &Nats, limits: QueueLimits) -> (jetstream::Context, jetstream::Context) {
    let launcher = jetstream::new(nats.connect(Role::Launcher).await);
    moat_queue::ensure_streams(&launcher, streams::all_streams(&limits))
        .await
        .unwrap();
    (jetstream::new(nats.connect(Role::Edge).await), launcher)
}

fn settings(tenant_concurrency: i64) -> DispatchSettings {
    DispatchSettings {
        consumers: ConsumerSettings {
            max_deliver: 3,
            ack_wait: Duration::from_secs(30),
            anon_concurrency: 1,
            tenant_concurrency,
        },
        anon_slots: 1,
        resync: Duration::from_millis(500),
    }
}

async fn submit(
    js: &jetstream::Context,
    client: &ClientKey,
    code: &str,
) -> Result<String, SubmitError> {
    let id = uuid_like();
    let tenant = match client {
        ClientKey::Tenant(t) => t.clone(),
        ClientKey::Anonymous(_) => "anon".into(),
    };
    moat_queue::submit(js, client, &RunRequest::new(&id, tenant, Job::new(code))).await?;
    Ok(id)
}

fn uuid_like() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "{:032x}",
        (std::process::id() as u64) << 32 | N.fetch_add(1, Ordering::SeqCst)
    )
}

fn code_of(d: &Delivery) -> String {
    serde_json::from_slice::<RunRequest>(&d.message.payload)
        .unwrap()
        .job
        .code
}

async fn take(d: &mut Dispatcher, within: Duration) -> Option<Delivery> {
    let shutdown = CancellationToken::new();
    tokio::time::timeout(within, d.next(&shutdown))
        .await
        .ok()
        .flatten()
}

async fn finish(js: &jetstream::Context, d: Delivery) {
    d.message.double_ack().await.unwrap();
    d.finish(&js.client()).await;
}

#[tokio::test]
async fn a_newcomer_goes_before_a_backlog_and_each_client_keeps_its_order() {
    let nats = Nats::start();
    let (edge, js) = setup(&nats, QueueLimits::default()).await;
    let mut d = Dispatcher::start(js.clone(), settings(100)).await.unwrap();
    let flood = ClientKey::Tenant("flood".into());
    for i in 0..10 {
        submit(&edge, &flood, &format!("flood {i}")).await.unwrap();
    }
    let first = take(&mut d, Duration::from_secs(5)).await.unwrap();
    assert_eq!(code_of(&first), "flood 0");
    finish(&js, first).await;
    // A polite tenant submits behind nine queued runs of the flood.
    submit(&edge, &ClientKey::Tenant("polite".into()), "polite")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let order: Vec<String> = {
        let mut out = Vec::new();
        for _ in 0..3 {
            let next = take(&mut d, Duration::from_secs(5)).await.unwrap();
            out.push(code_of(&next));
            finish(&js, next).await;
        }
        out
    };
    assert_eq!(order, ["polite", "flood 1", "flood 2"]);
}

#[tokio::test]
async fn queue_caps_refuse_and_concurrency_caps_hold_across_launchers() {
    let nats = Nats::start();
    let (edge, js) = setup(&nats, QueueLimits::default()).await;
    let anon = ClientKey::anonymous("127.0.0.9".parse::<IpAddr>().unwrap(), &Default::default());
    for i in 0..3 {
        submit(&edge, &anon, &format!("a{i}")).await.unwrap();
    }
    // A fourth run for the same client is refused as queue-full (its three
    // wait), and another client is not affected.
    assert!(matches!(
        submit(&edge, &anon, "a3").await,
        Err(SubmitError::QueueFull)
    ));
    let other = ClientKey::anonymous("127.0.0.10".parse::<IpAddr>().unwrap(), &Default::default());
    submit(&edge, &other, "b0").await.unwrap();

    // Two launchers. The anonymous concurrency is one run per client,
    // fleet-wide: while launcher 1 holds a0, launcher 2 gets b0 and then
    // nothing more of client a.
    let mut one = Dispatcher::start(js.clone(), settings(4)).await.unwrap();
    let mut two = Dispatcher::start(js.clone(), settings(4)).await.unwrap();
    let first = take(&mut one, Duration::from_secs(5)).await.unwrap();
    let second = take(&mut two, Duration::from_secs(5)).await.unwrap();
    let mut codes = [code_of(&first), code_of(&second)];
    codes.sort();
    assert_eq!(codes, ["a0", "b0"]);
    // Whichever launcher ran b0 finishes it and asks for more.
    let (held, got, mut asker) = if code_of(&first) == "a0" {
        (first, second, two)
    } else {
        (second, first, one)
    };
    finish(&js, got).await;
    let early = take(&mut asker, Duration::from_millis(1500)).await;
    assert!(
        early.is_none(),
        "a second run of client a started while its first ran elsewhere: {:?}",
        early.map(|d| code_of(&d))
    );
    // Once the first ends (and says so), the next of that client may start.
    finish(&js, held).await;
    let next = take(&mut asker, Duration::from_secs(5)).await.unwrap();
    assert_eq!(code_of(&next), "a1");
}

#[tokio::test]
async fn two_launchers_take_every_run_exactly_once() {
    let nats = Nats::start();
    let (edge, js) = setup(&nats, QueueLimits::default()).await;
    let mut expected = Vec::new();
    for t in 0..4 {
        let client = ClientKey::Tenant(format!("t{t}"));
        for i in 0..5 {
            let code = format!("t{t}-{i}");
            submit(&edge, &client, &code).await.unwrap();
            expected.push(code);
        }
    }
    let run = |mut d: Dispatcher, js: jetstream::Context| async move {
        let mut seen = Vec::new();
        while let Some(next) = take(&mut d, Duration::from_secs(3)).await {
            seen.push(code_of(&next));
            finish(&js, next).await;
        }
        seen
    };
    let one = Dispatcher::start(js.clone(), settings(4)).await.unwrap();
    let two = Dispatcher::start(js.clone(), settings(4)).await.unwrap();
    let (a, b) = tokio::join!(run(one, js.clone()), run(two, js.clone()));
    let mut counts: HashMap<String, usize> = HashMap::new();
    for code in a.iter().chain(&b) {
        *counts.entry(code.clone()).or_default() += 1;
    }
    assert_eq!(counts.len(), expected.len(), "{a:?} {b:?}");
    assert!(
        counts.values().all(|n| *n == 1),
        "a run was taken twice: {counts:?}"
    );
    // Each client's runs kept their order within each launcher.
    for seen in [&a, &b] {
        for t in 0..4 {
            let mine: Vec<&String> = seen
                .iter()
                .filter(|c| c.starts_with(&format!("t{t}-")))
                .collect();
            let mut sorted = mine.clone();
            sorted.sort();
            assert_eq!(mine, sorted);
        }
    }
    let mut runs = js.get_stream(moat_queue::subjects::RUNS).await.unwrap();
    assert_eq!(
        runs.info().await.unwrap().state.messages,
        0,
        "everything was acknowledged"
    );
}
