//! The launcher's way to `moat-egress`: each fetch is one NATS request on
//! [`EGRESS_SUBJECT`] (one egress instance of the queue group takes it)
//! whose answer comes back as numbered messages on a private inbox. A gap
//! in the numbers, a message that does not decode, no egress instance at
//! all, or one that dies mid-answer fails the call with a clear error; the
//! launcher never waits past the request's own time limit.

use futures::future::BoxFuture;
use futures::StreamExt;
use moat_wire::egress::{EgressReply, EgressRequest, EGRESS_SUBJECT};
use moat_wire::hostcall::{HostError, Reply};
use tokio::sync::mpsc;

use crate::session::Egress;

/// Fetches through `moat-egress` over NATS.
pub struct NatsEgress {
    nats: async_nats::Client,
}

impl NatsEgress {
    /// An egress client on `nats`.
    pub fn new(nats: async_nats::Client) -> Self {
        Self { nats }
    }
}

fn failed(code: &str, message: impl Into<String>) -> Reply {
    Reply::Failed(HostError::new(code, message))
}

impl Egress for NatsEgress {
    fn fetch(
        &self,
        request: EgressRequest,
        replies: mpsc::Sender<Reply>,
    ) -> BoxFuture<'static, ()> {
        let nats = self.nats.clone();
        Box::pin(async move {
            let end = match exchange(&nats, &request, &replies).await {
                Ok(()) => return,
                Err(end) => end,
            };
            let _ = replies.send(end).await;
        })
    }
}

/// Sends the request and relays its answer; `Err` carries the final reply
/// to send when the exchange itself failed.
async fn exchange(
    nats: &async_nats::Client,
    request: &EgressRequest,
    replies: &mpsc::Sender<Reply>,
) -> Result<(), Reply> {
    let unavailable = |why: String| failed("EGRESS_UNAVAILABLE", why);
    let inbox = nats.new_inbox();
    let mut answer = nats
        .subscribe(inbox.clone())
        .await
        .map_err(|e| unavailable(format!("the egress service cannot be reached: {e}")))?;
    // Serialising a request cannot fail: strings, numbers and lists only.
    let payload = serde_json::to_vec(request).expect("egress requests serialise");
    nats.publish_with_reply(EGRESS_SUBJECT, inbox, payload.into())
        .await
        .map_err(|e| unavailable(format!("the egress service cannot be reached: {e}")))?;
    let mut expected = 0u32;
    while let Some(message) = answer.next().await {
        if message.status == Some(async_nats::StatusCode::NO_RESPONDERS) {
            return Err(unavailable("no egress service is running".into()));
        }
        let reply: EgressReply = serde_json::from_slice(&message.payload)
            .map_err(|e| unavailable(format!("the egress service sent a bad answer: {e}")))?;
        if reply.seq != expected {
            return Err(unavailable(format!(
                "part of the egress service's answer was lost (got part {}, expected {expected})",
                reply.seq
            )));
        }
        expected += 1;
        let last = reply.is_final();
        if replies.send(reply.reply).await.is_err() || last {
            return Ok(());
        }
    }
    Err(unavailable(
        "the connection to the egress service closed".into(),
    ))
}
