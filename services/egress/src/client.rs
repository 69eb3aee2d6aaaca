//! The launcher's way to `moat-egress`: each fetch is one NATS request on
//! [`EGRESS_SUBJECT`] (one egress instance of the queue group takes it)
//! whose answer comes back as numbered messages on a private inbox. A gap
//! in the numbers, a message that does not decode, no egress instance at
//! all, or one that dies mid-answer fails the call with a clear error; the
//! launcher never waits past the request's own time limit.

use base64::Engine as _;
use bytes::Bytes;
use futures::future::BoxFuture;
use futures::StreamExt;
use moat_wire::egress::{
    upload_subject, EgressReply, EgressRequest, Upload, EGRESS_SUBJECT, INLINE_BODY_BYTES,
    UPLOAD_PART_BYTES,
};
use moat_wire::hostcall::{HostError, Reply};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

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
    let mut request = request.clone();
    // Serves the body's parts for as long as this exchange lasts.
    let _parts = offer_body(nats, &mut request)
        .await
        .map_err(|e| unavailable(format!("the egress service cannot be reached: {e}")))?;
    let inbox = nats.new_inbox();
    let mut answer = nats
        .subscribe(inbox.clone())
        .await
        .map_err(|e| unavailable(format!("the egress service cannot be reached: {e}")))?;
    // Serialising a request cannot fail: strings, numbers and lists only.
    let payload = serde_json::to_vec(&request).expect("egress requests serialise");
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

/// Ends a task when dropped.
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Moves a body over [`INLINE_BODY_BYTES`] out of the request into an
/// [`Upload`] served from a fresh inbox, part by part as the egress
/// instance asks.
async fn offer_body(
    nats: &async_nats::Client,
    request: &mut EgressRequest,
) -> Result<Option<AbortOnDrop>, async_nats::SubscribeError> {
    let Some(b64) = &request.call.body else {
        return Ok(None);
    };
    if b64.len() / 4 * 3 <= INLINE_BODY_BYTES {
        return Ok(None);
    }
    // A body that is not base64 stays inline, for the egress service to
    // refuse in its own words.
    let Ok(body) = base64::engine::general_purpose::STANDARD.decode(b64) else {
        return Ok(None);
    };
    let body = Bytes::from(body);
    // A fresh inbox's last token is unique (a NUID); under the upload
    // subjects it is where egress may ask for the parts.
    let inbox = nats.new_inbox();
    let subject = upload_subject(inbox.rsplit('.').next().unwrap_or(&inbox));
    let asked = nats.subscribe(subject.clone()).await?;
    request.upload = Some(Upload {
        subject,
        parts: Upload::parts_for(body.len() as u64),
        bytes: body.len() as u64,
    });
    request.call.body = None;
    Ok(Some(AbortOnDrop(tokio::spawn(serve_parts(
        nats.clone(),
        asked,
        body,
    )))))
}

/// Answers each request for part `n` with its bytes; asks for parts that
/// do not exist are not answered (the asker times out).
async fn serve_parts(nats: async_nats::Client, mut asked: async_nats::Subscriber, body: Bytes) {
    while let Some(message) = asked.next().await {
        let Some(reply) = message.reply else {
            continue;
        };
        let Some(start) = std::str::from_utf8(&message.payload)
            .ok()
            .and_then(|n| n.parse::<usize>().ok())
            .and_then(|n| n.checked_mul(UPLOAD_PART_BYTES))
            .filter(|&start| start < body.len())
        else {
            continue;
        };
        let part = body.slice(start..(start + UPLOAD_PART_BYTES).min(body.len()));
        if nats.publish(reply, part).await.is_err() {
            return;
        }
    }
}
