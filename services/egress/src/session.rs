//! The host side of a run's host-call channel: calls decoded from the
//! runner's stdout (by the launcher, or `moat exec`) come here, each is answered through an [`Egress`] under
//! the run's [`Budget`], and the replies go back on the runner's stdin as
//! lines, in the order they are ready.
//!
//! The runner is hostile here as everywhere: more calls waiting than the
//! protocol allows is a violation (the run ends `protocol_error`), and the
//! budget (requests, response bytes, requests at once, a per-request time
//! limit inside the run's deadline) is the launcher's, not the runner's.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use moat_wire::egress::EgressRequest;
use moat_wire::hostcall::{
    CallFrame, FetchCall, HostCall, HostError, Reply, ReplyLine, MAX_CALLS_IN_FLIGHT,
};
use tokio::io::AsyncWriteExt;
use tokio::sync::{mpsc, Semaphore};

/// How the runner broke the call protocol (the run then ends
/// `protocol_error`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Violation(pub &'static str);

/// What one run may do through the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Requests in all.
    pub requests: u64,
    /// Decoded response bytes in all.
    pub bytes: u64,
    /// Requests at once; more wait their turn.
    pub concurrency: usize,
    /// Longest one request may take (never past the run's deadline).
    pub request_timeout: Duration,
}

/// Where a run's fetches go: `moat-egress` over NATS, or anything else that
/// answers the same way (tests, `moat exec`).
pub trait Egress: Send + Sync + 'static {
    /// Makes `request`, sending its body's chunks and then exactly one final
    /// reply (`fetched` or `failed`) into `replies`.
    fn fetch(&self, request: EgressRequest, replies: mpsc::Sender<Reply>)
        -> BoxFuture<'static, ()>;
}

/// Fetches in this process, with a [`Fetcher`] (`moat exec`, tests).
pub struct LocalEgress {
    fetcher: Arc<crate::fetch::Fetcher>,
    plans: Arc<crate::policy::PlanPolicies>,
}

impl LocalEgress {
    /// An egress that makes requests itself, under each plan's policy.
    pub fn new(
        fetcher: Arc<crate::fetch::Fetcher>,
        plans: Arc<crate::policy::PlanPolicies>,
    ) -> Self {
        Self { fetcher, plans }
    }
}

impl Egress for LocalEgress {
    fn fetch(
        &self,
        request: EgressRequest,
        replies: mpsc::Sender<Reply>,
    ) -> BoxFuture<'static, ()> {
        let (fetcher, plans) = (self.fetcher.clone(), self.plans.clone());
        Box::pin(async move {
            let (answer, _) = crate::serve::respond(&fetcher, &plans, request).await;
            for reply in answer {
                if replies.send(reply).await.is_err() {
                    return;
                }
            }
        })
    }
}

/// The egress of a launcher without one: every fetch fails, saying so.
pub struct NoEgress;

impl Egress for NoEgress {
    fn fetch(&self, _: EgressRequest, replies: mpsc::Sender<Reply>) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            let _ = replies
                .send(unavailable("this launcher has no egress service"))
                .await;
        })
    }
}

/// How a run reaches the network: the egress, who the run is, its budget,
/// and where finished requests are reported.
#[derive(Clone)]
pub struct HostSide {
    /// Where fetches go.
    pub egress: Arc<dyn Egress>,
    /// Who the run is.
    pub who: RunIdentity,
    /// What it may do.
    pub budget: Budget,
    /// Finished requests, for `net` events.
    pub net: mpsc::UnboundedSender<NetDone>,
}

impl HostSide {
    /// A run that cannot reach the network (its fetches fail, saying so);
    /// finished requests are not reported.
    pub fn offline(run: &str) -> Self {
        let (net, _) = mpsc::unbounded_channel();
        Self {
            egress: Arc::new(NoEgress),
            who: RunIdentity {
                run: run.to_owned(),
                tenant: "anon".to_owned(),
                plan: moat_wire::egress::EgressPlan::Anonymous,
                rules: None,
            },
            budget: Budget {
                requests: u64::MAX,
                bytes: u64::MAX,
                concurrency: 1,
                request_timeout: Duration::from_secs(1),
            },
            net,
        }
    }
}

/// One request as it ended, for the run's `net` events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetDone {
    /// The method.
    pub method: String,
    /// The URL asked for.
    pub url: String,
    /// The response's status, when there was one.
    pub status: Option<u16>,
    /// Why it failed, when it did.
    pub error: Option<HostError>,
    /// Body bytes received.
    pub bytes: u64,
    /// How long it took.
    pub ms: u64,
}

/// A frame the run's decoder hands to the relay.
#[derive(Debug)]
pub enum CallEvent {
    /// A call.
    Call(CallFrame),
    /// The run gave up on this call.
    Cancel(u32),
}

/// Who the run is, for the egress service.
#[derive(Debug, Clone)]
pub struct RunIdentity {
    /// The run id.
    pub run: String,
    /// Its tenant (`anon` for anonymous clients).
    pub tenant: String,
    /// The plan it was queued under.
    pub plan: moat_wire::egress::EgressPlan,
    /// The tenant's own network rules, sent with each request.
    pub rules: Option<moat_wire::egress::EgressRules>,
}

/// Answers the run's calls until its stdout ends (`calls` closes) or the
/// runner stops reading; `Err` when the runner broke the protocol.
pub async fn relay<W>(
    stdin: W,
    mut calls: mpsc::UnboundedReceiver<CallEvent>,
    egress: Arc<dyn Egress>,
    who: RunIdentity,
    budget: Budget,
    deadline: Instant,
    net: mpsc::UnboundedSender<NetDone>,
) -> Result<(), Violation>
where
    W: tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (out, lines) = mpsc::channel::<ReplyLine>(64);
    let writer = tokio::spawn(write_lines(stdin, lines));
    let waiting = Arc::new(AtomicUsize::new(0));
    let shared = Arc::new(Shared {
        egress,
        who,
        budget,
        deadline,
        used_requests: AtomicU64::new(0),
        used_bytes: AtomicU64::new(0),
        permits: Semaphore::new(budget.concurrency.max(1)),
        net,
    });
    // Dropping the session (the run ended first) aborts every call still
    // open: nothing of a finished run goes on talking to the egress service.
    let mut running = tokio::task::JoinSet::new();
    let mut tasks: HashMap<u32, Open> = HashMap::new();
    let mut verdict = Ok(());
    while let Some(event) = calls.recv().await {
        while running.try_join_next().is_some() {}
        match event {
            CallEvent::Call(CallFrame { id, call }) => {
                tasks.retain(|_, open| !open.task.is_finished());
                // Decremented by each call before its final reply is queued,
                // so a runner that waits for its replies never trips this.
                if waiting.load(Ordering::SeqCst) >= MAX_CALLS_IN_FLIGHT {
                    verdict = Err(Violation("too many calls waiting at once"));
                    break;
                }
                waiting.fetch_add(1, Ordering::SeqCst);
                let place = Arc::new(Place {
                    released: AtomicBool::new(false),
                    waiting: waiting.clone(),
                });
                let HostCall::Fetch(fetch) = &call;
                let (method, url) = (fetch.method.clone(), fetch.url.clone());
                let task =
                    running.spawn(answer(shared.clone(), id, call, out.clone(), place.clone()));
                tasks.insert(
                    id,
                    Open {
                        task,
                        place,
                        method,
                        url,
                        began: Instant::now(),
                    },
                );
            }
            CallEvent::Cancel(id) => {
                if let Some(open) = tasks.remove(&id) {
                    if !open.task.is_finished() {
                        open.task.abort();
                        // Reported like any other end, once: the place is
                        // released by whichever comes first.
                        if !open.place.released.load(Ordering::SeqCst) {
                            let _ = shared.net.send(NetDone {
                                method: open.method,
                                url: open.url,
                                status: None,
                                error: Some(HostError::new(
                                    "ABORT_ERR",
                                    "the script aborted the request",
                                )),
                                bytes: 0,
                                ms: open.began.elapsed().as_millis() as u64,
                            });
                        }
                    }
                    open.place.release();
                }
            }
        }
    }
    running.abort_all();
    drop(out);
    writer.abort();
    verdict
}

/// A call still open: its task, its place, and what to report if the run
/// gives up on it.
struct Open {
    task: tokio::task::AbortHandle,
    place: Arc<Place>,
    method: String,
    url: String,
    began: Instant,
}

/// A call's place among those waiting, given back exactly once (by its
/// answer or by a cancel, whichever comes first).
struct Place {
    released: AtomicBool,
    waiting: Arc<AtomicUsize>,
}

impl Place {
    fn release(&self) {
        if !self.released.swap(true, Ordering::SeqCst) {
            self.waiting.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// What every call of one run shares.
struct Shared {
    egress: Arc<dyn Egress>,
    who: RunIdentity,
    budget: Budget,
    deadline: Instant,
    used_requests: AtomicU64,
    used_bytes: AtomicU64,
    permits: Semaphore,
    net: mpsc::UnboundedSender<NetDone>,
}

/// Answers one call: checks the budget, waits for a turn, relays the egress
/// service's replies (counting bytes), reports how it ended.
async fn answer(
    shared: Arc<Shared>,
    id: u32,
    call: HostCall,
    out: mpsc::Sender<ReplyLine>,
    place: Arc<Place>,
) {
    let HostCall::Fetch(fetch) = call;
    let began = Instant::now();
    let (final_reply, status, bytes) = match admit(&shared, &fetch) {
        Err(refusal) => (Reply::Failed(refusal), None, 0),
        Ok(()) => {
            let _turn = shared.permits.acquire().await;
            fetch_through(&shared, id, fetch.clone(), &out).await
        }
    };
    let error = match &final_reply {
        Reply::Failed(e) => Some(e.clone()),
        _ => None,
    };
    let _ = shared.net.send(NetDone {
        method: fetch.method,
        url: fetch.url,
        status,
        error,
        bytes,
        ms: began.elapsed().as_millis() as u64,
    });
    place.release();
    let _ = out.send(ReplyLine::new(id, final_reply)).await;
}

/// Counts the request against the run's budget, or says why it may not go.
fn admit(shared: &Shared, _fetch: &FetchCall) -> Result<(), HostError> {
    let n = shared.used_requests.fetch_add(1, Ordering::SeqCst) + 1;
    if n > shared.budget.requests {
        return Err(HostError::new(
            "EGRESS_LIMIT",
            format!(
                "this run may make at most {} requests",
                shared.budget.requests
            ),
        ));
    }
    if shared.used_bytes.load(Ordering::SeqCst) >= shared.budget.bytes {
        return Err(HostError::new(
            "EGRESS_LIMIT",
            format!(
                "this run has received its {} bytes of responses",
                shared.budget.bytes
            ),
        ));
    }
    Ok(())
}

/// Sends the request to the egress service and relays its answer: the
/// final reply (to be sent last), the status and the body bytes.
async fn fetch_through(
    shared: &Shared,
    id: u32,
    fetch: FetchCall,
    out: &mpsc::Sender<ReplyLine>,
) -> (Reply, Option<u16>, u64) {
    let left = shared.deadline.saturating_duration_since(Instant::now());
    let limit = shared.budget.request_timeout.min(left);
    let limit = fetch
        .timeout_ms
        .map_or(limit, |ms| limit.min(Duration::from_millis(ms)));
    if limit.is_zero() {
        return (
            Reply::Failed(HostError::new("ETIMEDOUT", "the run's deadline has passed")),
            None,
            0,
        );
    }
    let max_bytes = shared
        .budget
        .bytes
        .saturating_sub(shared.used_bytes.load(Ordering::SeqCst));
    let mut request = EgressRequest::new(
        &shared.who.run,
        &shared.who.tenant,
        fetch,
        max_bytes,
        limit.as_millis() as u64,
    );
    request.plan = shared.who.plan;
    request.rules = shared.who.rules.clone();
    let (tx, mut rx) = mpsc::channel(8);
    let work = shared.egress.fetch(request, tx);
    let relay = async {
        let mut bytes = 0u64;
        while let Some(reply) = rx.recv().await {
            match reply {
                Reply::Chunk { data } => {
                    // base64: 3 bytes per 4 characters, padding aside.
                    let n = (data.len() as u64 / 4) * 3;
                    bytes += n;
                    shared.used_bytes.fetch_add(n, Ordering::SeqCst);
                    if out
                        .send(ReplyLine::new(id, Reply::Chunk { data }))
                        .await
                        .is_err()
                    {
                        return (unavailable("the run stopped reading"), None, bytes);
                    }
                }
                Reply::Fetched(head) => {
                    let status = head.status;
                    return (Reply::Fetched(head), Some(status), bytes);
                }
                failed @ Reply::Failed(_) => return (failed, None, bytes),
            }
        }
        (
            unavailable("the egress service ended the request without an answer"),
            None,
            bytes,
        )
    };
    // A little past the request's own limit: the egress service's timeout
    // should answer first; this one covers an egress that died.
    let guard = limit + Duration::from_secs(2);
    let both = async {
        let (_, answer) = tokio::join!(work, relay);
        answer
    };
    match tokio::time::timeout(guard, both).await {
        Ok(answer) => answer,
        Err(_) => (
            Reply::Failed(HostError::new(
                "ETIMEDOUT",
                format!("the request took longer than {} ms", limit.as_millis()),
            )),
            None,
            0,
        ),
    }
}

fn unavailable(why: &str) -> Reply {
    Reply::Failed(HostError::new("EGRESS_UNAVAILABLE", why))
}

/// Writes reply lines to the runner's stdin until the relay ends or the
/// runner stops reading.
async fn write_lines<W>(mut stdin: W, mut lines: mpsc::Receiver<ReplyLine>)
where
    W: tokio::io::AsyncWrite + Unpin,
{
    while let Some(line) = lines.recv().await {
        if stdin.write_all(&line.encode()).await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use moat_wire::hostcall::FetchResponse;
    use tokio::io::AsyncBufReadExt;

    /// Answers every fetch with a fixed body in two chunks, or hangs for
    /// URLs containing "hang".
    struct Fake;

    impl Egress for Fake {
        fn fetch(
            &self,
            request: EgressRequest,
            replies: mpsc::Sender<Reply>,
        ) -> BoxFuture<'static, ()> {
            Box::pin(async move {
                if request.call.url.contains("hang") {
                    std::future::pending::<()>().await;
                }
                for data in ["aGVs", "bG8="] {
                    let _ = replies.send(Reply::Chunk { data: data.into() }).await;
                }
                let _ = replies
                    .send(Reply::Fetched(FetchResponse {
                        status: 200,
                        status_text: "OK".into(),
                        headers: vec![],
                        url: request.call.url,
                        redirected: false,
                    }))
                    .await;
            })
        }
    }

    fn call(id: u32, url: &str) -> CallEvent {
        CallEvent::Call(CallFrame {
            id,
            call: HostCall::Fetch(FetchCall::get(url)),
        })
    }

    fn budget(requests: u64) -> Budget {
        Budget {
            requests,
            bytes: 1 << 20,
            concurrency: 6,
            request_timeout: Duration::from_secs(5),
        }
    }

    struct Harness {
        calls: mpsc::UnboundedSender<CallEvent>,
        lines: tokio::io::Lines<tokio::io::BufReader<tokio::io::DuplexStream>>,
        net: mpsc::UnboundedReceiver<NetDone>,
        relay: tokio::task::JoinHandle<Result<(), Violation>>,
    }

    fn start(budget: Budget) -> Harness {
        let (stdin, runner_side) = tokio::io::duplex(1 << 20);
        let (calls, rx) = mpsc::unbounded_channel();
        let (net_tx, net) = mpsc::unbounded_channel();
        let who = RunIdentity {
            run: "r".into(),
            tenant: "anon".into(),
            plan: moat_wire::egress::EgressPlan::Anonymous,
            rules: None,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        let relay = tokio::spawn(relay(
            stdin,
            rx,
            Arc::new(Fake),
            who,
            budget,
            deadline,
            net_tx,
        ));
        Harness {
            calls,
            lines: tokio::io::BufReader::new(runner_side).lines(),
            net,
            relay,
        }
    }

    async fn next(h: &mut Harness) -> ReplyLine {
        let line = tokio::time::timeout(Duration::from_secs(5), h.lines.next_line())
            .await
            .expect("a reply line in time")
            .unwrap()
            .unwrap();
        ReplyLine::decode(line.as_bytes()).unwrap()
    }

    #[tokio::test]
    async fn a_call_is_answered_with_chunks_then_its_response() {
        let mut h = start(budget(5));
        h.calls.send(call(1, "http://127.0.0.1:1/")).unwrap();
        assert!(matches!(next(&mut h).await.reply, Reply::Chunk { .. }));
        assert!(matches!(next(&mut h).await.reply, Reply::Chunk { .. }));
        let end = next(&mut h).await;
        assert_eq!(end.id, 1);
        assert!(matches!(end.reply, Reply::Fetched(ref r) if r.status == 200));
        let done = h.net.recv().await.unwrap();
        assert_eq!((done.status, done.bytes), (Some(200), 6));
        drop(h.calls);
        assert!(h.relay.await.unwrap().is_ok());
    }

    #[tokio::test]
    async fn requests_past_the_budget_fail_with_egress_limit() {
        let mut h = start(budget(1));
        h.calls.send(call(1, "http://127.0.0.1:1/a")).unwrap();
        h.calls.send(call(2, "http://127.0.0.1:1/b")).unwrap();
        let mut failed = None;
        for _ in 0..4 {
            let line = next(&mut h).await;
            if let Reply::Failed(e) = line.reply {
                failed = Some((line.id, e));
            }
        }
        let (id, e) = failed.expect("one call refused");
        assert_eq!(id, 2);
        assert_eq!(e.code, "EGRESS_LIMIT");
        assert!(e.message.contains("at most 1 requests"), "{e:?}");
    }

    #[tokio::test]
    async fn a_runner_that_floods_calls_is_a_protocol_violation() {
        let h = start(budget(1000));
        for id in 1..=(MAX_CALLS_IN_FLIGHT as u32 + 1) {
            h.calls.send(call(id, "http://127.0.0.1:1/hang")).unwrap();
        }
        let verdict = tokio::time::timeout(Duration::from_secs(5), h.relay)
            .await
            .unwrap()
            .unwrap();
        assert!(matches!(verdict, Err(Violation(_))), "{verdict:?}");
    }

    #[tokio::test]
    async fn a_cancelled_call_frees_its_place() {
        // Every call may be open at once here: the test is about places
        // among the waiting, not turns among the open.
        let mut h = start(Budget {
            concurrency: MAX_CALLS_IN_FLIGHT,
            ..budget(1000)
        });
        for id in 1..=(MAX_CALLS_IN_FLIGHT as u32) {
            h.calls.send(call(id, "http://127.0.0.1:1/hang")).unwrap();
        }
        h.calls.send(CallEvent::Cancel(1)).unwrap();
        h.calls.send(call(100, "http://127.0.0.1:1/ok")).unwrap();
        let mut seen = None;
        for _ in 0..3 {
            seen = Some(next(&mut h).await);
        }
        assert_eq!(seen.unwrap().id, 100);
        assert!(!h.relay.is_finished());
    }
}
