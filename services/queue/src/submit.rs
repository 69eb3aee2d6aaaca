//! Submitting a run: publish it to its client's subject, deduplicated by run
//! id, and tell queue-full (the client's fault, 429) from the queue being
//! unreachable (ours, 503) by the server's error code, not its wording.

use async_nats::jetstream::{self, context::PublishErrorKind, ErrorCode};
use bytes::Bytes;
use moat_wire::RunRequest;

use crate::client::ClientKey;
use crate::subjects;

/// Why a run was not queued.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    /// The client's queue (or its plan's whole queue) is at its cap: retry
    /// once some of its runs have finished.
    #[error("the queue is full")]
    QueueFull,
    /// JetStream could not be reached or did not confirm the run; nothing was
    /// queued, or a retried submit is deduplicated.
    #[error("cannot queue the run: {0}")]
    Unavailable(String),
}

/// Publishes `request` for `client` and waits for JetStream to store it,
/// then wakes the launchers. The message id is the run id, so a retried
/// publish is stored once.
pub async fn submit(
    js: &jetstream::Context,
    client: &ClientKey,
    request: &RunRequest,
) -> Result<(), SubmitError> {
    let plan = client.plan();
    let token = client.token();
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Nats-Msg-Id", request.id.as_str());
    let payload = serde_json::to_vec(request).expect("requests serialise");
    let ack = js
        .publish_with_headers(subjects::submit(plan, &token), headers, payload.into())
        .await
        .map_err(|e| SubmitError::Unavailable(e.to_string()))?;
    ack.await.map_err(|e| classify(&e))?;
    // A lost wake costs a launcher's resync period at most, never the run.
    let _ = js
        .client()
        .publish(subjects::wake(plan, &token), Bytes::new())
        .await;
    Ok(())
}

/// Queue-full is the stream refusing to store the message (its per-subject
/// or total cap with discard-new); anything else means JetStream is not
/// there to take it.
fn classify(e: &jetstream::context::PublishError) -> SubmitError {
    if e.kind() == PublishErrorKind::Other {
        let api = std::error::Error::source(e).and_then(|s| s.downcast_ref::<jetstream::Error>());
        if api.is_some_and(|a| a.error_code() == ErrorCode::STREAM_STORE_FAILED) {
            return SubmitError::QueueFull;
        }
    }
    SubmitError::Unavailable(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use jetstream::context::PublishError;

    fn api_error(json: &str) -> PublishError {
        let api: jetstream::Error = serde_json::from_str(json).unwrap();
        PublishError::with_source(PublishErrorKind::Other, api)
    }

    #[test]
    fn a_full_queue_is_told_apart_by_its_error_code() {
        let full = api_error(
            r#"{"code":503,"err_code":10077,"description":"maximum messages per subject exceeded"}"#,
        );
        assert!(matches!(classify(&full), SubmitError::QueueFull));
        let other =
            api_error(r#"{"code":503,"err_code":10039,"description":"jetstream not enabled"}"#);
        assert!(matches!(classify(&other), SubmitError::Unavailable(_)));
        let gone = PublishError::new(PublishErrorKind::StreamNotFound);
        assert!(matches!(classify(&gone), SubmitError::Unavailable(_)));
    }
}
