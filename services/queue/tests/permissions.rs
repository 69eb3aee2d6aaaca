//! The NATS users of `nats/users.conf` against a real nats-server: each
//! service's user can do its own work and nothing else. Every refusal is
//! checked beside the same operation by the user allowed it, so a check
//! that could not fail (a subject nobody listens on) fails instead.

use std::time::Duration;

use async_nats::jetstream;
use futures::StreamExt;
use moat_queue::{streams, subjects, ClientKey, Plan, QueueLimits, Role};
use moat_testkit::Nats;
use moat_wire::{Job, RunRequest};

/// How long the server's answer to a probe may take: generous, since one
/// always comes (the message, or the server's refusal) unless the test is
/// broken.
const ANSWER: Duration = Duration::from_secs(10);

/// A connection as `role` that hears the server's refusals: nats-server
/// answers a publish or subscription outside the user's permissions with
/// `-ERR 'Permissions Violation for ...'`, so a refusal is seen, not
/// inferred from silence.
struct Probe {
    client: async_nats::Client,
    refusals: tokio::sync::mpsc::UnboundedReceiver<String>,
}

impl Probe {
    async fn connect(nats: &Nats, role: Role) -> Self {
        let (tx, refusals) = tokio::sync::mpsc::unbounded_channel();
        let client = nats
            .auth(role)
            .options(role)
            .await
            .unwrap()
            .event_callback(move |event| {
                let tx = tx.clone();
                async move {
                    if let async_nats::Event::ServerError(e) = event {
                        let _ = tx.send(e.to_string());
                    }
                }
            })
            .connect(&nats.url)
            .await
            .unwrap();
        Self { client, refusals }
    }

    /// Whether the server has refused something on `subject` (drains
    /// refusals of other subjects on the way).
    fn refused_now(&mut self, subject: &str) -> bool {
        let mut seen = false;
        while let Ok(e) = self.refusals.try_recv() {
            assert!(e.contains("Permissions Violation"), "unexpected: {e}");
            seen |= e.contains(&format!("\"{subject}\""));
        }
        seen
    }
}

/// Whether `role` may publish on `subject`: a subscriber with every right
/// hears its message, or the server refuses it. The message is sent again
/// every 100 ms until one of the two happens (the admin's subscription may
/// reach the server after the first).
async fn reaches(nats: &Nats, role: Role, subject: &str) -> bool {
    let admin = nats.admin().await;
    let mut seen = admin.subscribe(subject.to_owned()).await.unwrap();
    let mut probe = Probe::connect(nats, role).await;
    let mark = format!("mark-{}", probe.client.new_inbox());
    let until = tokio::time::Instant::now() + ANSWER;
    while tokio::time::Instant::now() < until {
        let _ = probe
            .client
            .publish(subject.to_owned(), mark.clone().into())
            .await;
        if let Ok(Some(m)) = tokio::time::timeout(Duration::from_millis(100), seen.next()).await {
            if m.payload == mark.as_bytes() {
                return true;
            }
        }
        if probe.refused_now(subject) {
            return false;
        }
    }
    panic!("neither delivered nor refused: {role:?} publishing {subject}");
}

/// Whether `role` may subscribe to `filter`: it hears what the admin
/// publishes on `subject` (under `filter`), or the server refuses the
/// subscription.
async fn hears(nats: &Nats, role: Role, filter: &str, subject: &str) -> bool {
    let mut probe = Probe::connect(nats, role).await;
    let mut sub = probe.client.subscribe(filter.to_owned()).await.unwrap();
    let admin = nats.admin().await;
    let mark = format!("mark-{}", admin.new_inbox());
    let until = tokio::time::Instant::now() + ANSWER;
    while tokio::time::Instant::now() < until {
        admin
            .publish(subject.to_owned(), mark.clone().into())
            .await
            .unwrap();
        if let Ok(Some(m)) = tokio::time::timeout(Duration::from_millis(100), sub.next()).await {
            if m.payload == mark.as_bytes() {
                return true;
            }
        }
        if probe.refused_now(filter) {
            return false;
        }
    }
    panic!("neither delivered nor refused: {role:?} subscribing to {filter}");
}

/// Messages stored in `stream`.
async fn stored(nats: &Nats, stream: &str) -> u64 {
    let js = jetstream::new(nats.admin().await);
    let mut stream = js.get_stream(stream).await.unwrap();
    stream.info().await.unwrap().state.messages
}

/// A run request's bytes, as the edge submits it.
fn request(id: &str) -> RunRequest {
    RunRequest::new(id, "t1", Job::new("export default 1"))
}

async fn setup() -> (Nats, jetstream::Context) {
    let nats = Nats::start();
    let launcher = jetstream::new(nats.connect(Role::Launcher).await);
    let mut short = launcher.clone();
    short.set_timeout(Duration::from_secs(1));
    moat_queue::ensure_streams(&launcher, streams::all_streams(&QueueLimits::default()))
        .await
        .unwrap();
    (nats, short)
}

#[tokio::test]
async fn without_a_login_or_with_a_wrong_one_nothing_connects() {
    let nats = Nats::start();
    let anonymous = async_nats::ConnectOptions::new()
        .connection_timeout(Duration::from_secs(2))
        .connect(&nats.url)
        .await;
    assert!(
        anonymous.is_err(),
        "an unauthenticated connection was let in"
    );
    let wrong = moat_queue::connect(
        &nats.url,
        &moat_queue::NatsAuth::password("edge", "not-the-password"),
        Role::Edge,
    )
    .await;
    assert!(wrong.is_err(), "a wrong password was let in");
    // Another service's password is not this one's.
    let swapped = moat_queue::connect(
        &nats.url,
        &moat_queue::NatsAuth::password("edge", &nats.password("launcher")),
        Role::Edge,
    )
    .await;
    assert!(swapped.is_err(), "the launcher's password let the edge in");
    // The right one does.
    nats.connect(Role::Edge).await;
}

#[tokio::test]
async fn only_the_edge_submits_runs() {
    let (nats, launcher_js) = setup().await;
    let edge = jetstream::new(nats.connect(Role::Edge).await);
    let tenant = ClientKey::Tenant("t1".into());
    moat_queue::submit(&edge, &tenant, &request("a1"))
        .await
        .unwrap();
    assert_eq!(stored(&nats, subjects::RUNS).await, 1);
    // A launcher (or egress) publishing a submission is refused: nothing
    // is stored, and the publisher learns it was not accepted.
    let egress = jetstream::new(nats.connect(Role::Egress).await);
    for (who, js) in [("launcher", &launcher_js), ("egress", &egress)] {
        let refused = moat_queue::submit(js, &tenant, &request("a2")).await;
        assert!(refused.is_err(), "the {who} submitted a run");
    }
    assert_eq!(stored(&nats, subjects::RUNS).await, 1);
    // Nor can they wake launchers for it.
    let wake = subjects::wake(Plan::Tenant, "t1");
    assert!(reaches(&nats, Role::Edge, &wake).await);
    assert!(!reaches(&nats, Role::Egress, &wake).await);
    assert!(!reaches(&nats, Role::Recorder, &wake).await);
}

#[tokio::test]
async fn only_launchers_publish_events_and_results() {
    let (nats, launcher_js) = setup().await;
    let edge = nats.connect(Role::Edge).await;
    let edge_js = jetstream::new(edge.clone());
    let mut edge_short = edge_js.clone();
    edge_short.set_timeout(Duration::from_secs(1));
    let (event, done) = (subjects::events("r1"), subjects::done("t1"));
    // The edge cannot forge an event or a result: not stored, not heard.
    for subject in [&event, &done] {
        assert!(edge_short
            .publish(subject.clone(), "forged".into())
            .await
            .unwrap()
            .await
            .is_err());
        assert!(!reaches(&nats, Role::Edge, subject).await, "{subject}");
    }
    assert_eq!(stored(&nats, subjects::RUN_EVENTS).await, 0);
    assert_eq!(stored(&nats, subjects::RUN_RESULTS).await, 0);
    // The recorder and egress cannot either.
    for role in [Role::Recorder, Role::Egress] {
        for subject in [&event, &done] {
            assert!(!reaches(&nats, role, subject).await, "{role:?} {subject}");
        }
    }
    // A launcher can.
    for subject in [&event, &done] {
        launcher_js
            .publish(subject.clone(), "real".into())
            .await
            .unwrap()
            .await
            .unwrap();
    }
    assert_eq!(stored(&nats, subjects::RUN_EVENTS).await, 1);
    assert_eq!(stored(&nats, subjects::RUN_RESULTS).await, 1);
}

#[tokio::test]
async fn the_egress_user_touches_only_its_own_subjects() {
    let (nats, _launcher_js) = setup().await;
    let egress = nats.connect(Role::Egress).await;
    // Its own: fetch requests in its queue group, peers, its inbox.
    let mut fetches = egress
        .queue_subscribe(
            moat_wire::egress::EGRESS_SUBJECT,
            moat_wire::egress::EGRESS_QUEUE_GROUP.into(),
        )
        .await
        .unwrap();
    egress.flush().await.unwrap();
    let launcher = nats.connect(Role::Launcher).await;
    launcher
        .publish(moat_wire::egress::EGRESS_SUBJECT, "fetch".into())
        .await
        .unwrap();
    launcher.flush().await.unwrap();
    let got = tokio::time::timeout(ANSWER, fetches.next()).await;
    assert!(matches!(got, Ok(Some(m)) if m.payload == "fetch"));
    assert!(reaches(&nats, Role::Egress, moat_wire::egress::EGRESS_PEERS_SUBJECT).await);
    assert!(
        reaches(
            &nats,
            Role::Egress,
            &moat_wire::egress::upload_subject("u1")
        )
        .await
    );
    // Nothing else: no run subjects, no fetches outside the group, no
    // other service's replies, no JetStream.
    for subject in [
        subjects::submit(Plan::Anonymous, "4-127-0-0-1"),
        subjects::wake(Plan::Anonymous, "4-127-0-0-1"),
        subjects::events("r1"),
        subjects::done("t1"),
        moat_wire::egress::EGRESS_SUBJECT.to_owned(),
        "_INBOX_launcher.x".to_owned(),
        "$JS.API.STREAM.DELETE.RUNS".to_owned(),
    ] {
        assert!(
            !reaches(&nats, Role::Egress, &subject).await,
            "published {subject}"
        );
    }
    for (filter, subject) in [
        (
            moat_wire::egress::EGRESS_SUBJECT,
            moat_wire::egress::EGRESS_SUBJECT,
        ),
        ("runs.>", "runs.events.r1"),
        ("_INBOX_launcher.>", "_INBOX_launcher.x"),
        ("_INBOX.>", "_INBOX.x"),
        ("moat.egress.upload.>", "moat.egress.upload.u1"),
    ] {
        assert!(
            !hears(&nats, Role::Egress, filter, subject).await,
            "heard {filter}"
        );
    }
    let mut js = jetstream::new(egress.clone());
    js.set_timeout(Duration::from_secs(1));
    assert!(js.get_stream(subjects::RUNS).await.is_err());
    assert_eq!(stored(&nats, subjects::RUNS_ANON).await, 0);
}

#[tokio::test]
async fn each_service_hears_only_its_own_replies() {
    let (nats, _launcher_js) = setup().await;
    for listener in Role::ALL {
        for owner in Role::ALL {
            let filter = format!("{}.>", owner.inbox_prefix());
            let subject = format!("{}.x", owner.inbox_prefix());
            let heard = hears(&nats, listener, &filter, &subject).await;
            assert_eq!(
                heard,
                listener == owner,
                "{listener:?} listening on {owner:?}'s inbox"
            );
        }
        // The shared inbox is nobody's.
        assert!(!hears(&nats, listener, "_INBOX.>", "_INBOX.x").await);
    }
    // The edge cannot reach egress, nor the recorder's streams' consumers.
    let edge = nats.connect(Role::Edge).await;
    assert!(!reaches(&nats, Role::Edge, moat_wire::egress::EGRESS_SUBJECT).await);
    let mut edge_js = jetstream::new(edge);
    edge_js.set_timeout(Duration::from_secs(1));
    assert!(edge_js.get_stream(subjects::RUN_RESULTS).await.is_err());
    assert!(edge_js.get_stream(subjects::RUN_EVENTS).await.is_ok());
}

#[tokio::test]
async fn the_edge_cannot_touch_the_recorders_consumer() {
    let (nats, _launcher_js) = setup().await;
    let recorder = jetstream::new(nats.connect(Role::Recorder).await);
    let durable = "recorder-events";
    recorder
        .get_stream(subjects::RUN_EVENTS)
        .await
        .unwrap()
        .create_consumer(jetstream::consumer::pull::Config {
            durable_name: Some(durable.into()),
            ..Default::default()
        })
        .await
        .unwrap();
    let mut edge = jetstream::new(nats.connect(Role::Edge).await);
    edge.set_timeout(Duration::from_secs(1));
    let events = edge.get_stream(subjects::RUN_EVENTS).await.unwrap();
    assert!(events.delete_consumer(durable).await.is_err());
    let redefined = events
        .create_consumer(jetstream::consumer::pull::Config {
            durable_name: Some(durable.into()),
            filter_subject: subjects::events("r1"),
            ..Default::default()
        })
        .await;
    assert!(
        redefined.is_err(),
        "the edge redefined the recorder's consumer"
    );
    // It is still there, as the recorder made it; the edge's own
    // consumers are its to make.
    let admin = jetstream::new(nats.admin().await);
    let stream = admin.get_stream(subjects::RUN_EVENTS).await.unwrap();
    let info = stream.consumer_info(durable).await.unwrap();
    assert_eq!(info.config.filter_subject, "");
    assert!(events
        .create_consumer(jetstream::consumer::pull::OrderedConfig {
            name: Some("edge-1".into()),
            filter_subject: subjects::events("r1"),
            ..Default::default()
        })
        .await
        .is_ok());
}
