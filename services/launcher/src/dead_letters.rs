//! Runs whose last attempt died with its launcher: nobody else will report
//! them. The server publishes a max-deliveries advisory when such a run's
//! ack wait expires on its last delivery; one launcher (a queue group)
//! writes its `failed` record and removes the message, which a work-queue
//! stream would otherwise keep.

use futures::StreamExt;
use moat_queue::{consumers, Plan};
use moat_wire::Outcome;
use tokio_util::sync::CancellationToken;

use crate::worker::{decode, Worker};

/// Queue group, so each advisory is handled once across the fleet.
const GROUP: &str = "moat-dead-letters";

/// What the advisory says (other fields are ignored).
#[derive(serde::Deserialize)]
struct Advisory {
    stream: String,
    stream_seq: u64,
}

/// Handles advisories for every client's consumer on both plans' streams
/// until `shutdown`.
pub async fn run(
    worker: Worker,
    client: async_nats::Client,
    shutdown: CancellationToken,
) -> Result<(), async_nats::SubscribeError> {
    let mut subs = Vec::new();
    for plan in Plan::ALL {
        subs.push(
            client
                .queue_subscribe(consumers::max_deliveries_advisory(plan), GROUP.into())
                .await?,
        );
    }
    let mut advisories = futures::stream::select_all(subs);
    loop {
        let advisory = tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            a = advisories.next() => match a { Some(a) => a, None => return Ok(()) },
        };
        let Ok(a) = serde_json::from_slice::<Advisory>(&advisory.payload) else {
            continue;
        };
        let Some(plan) = Plan::ALL.into_iter().find(|p| p.stream() == a.stream) else {
            continue;
        };
        let Ok(stream) = worker.js.get_stream(plan.stream()).await else {
            continue;
        };
        let Ok(raw) = stream.get_raw_message(a.stream_seq).await else {
            continue;
        };
        let msg_id = raw
            .headers
            .get("Nats-Msg-Id")
            .map(|v| v.as_str().to_owned());
        let attempts = worker.max_deliver as u32;
        match decode(&raw.subject, msg_id.as_deref(), &raw.payload) {
            Ok(request) => {
                let run = crate::worker::RunRef {
                    id: request.id,
                    tenant: request.tenant,
                    submitted_ms: request.submitted_ms,
                };
                let why = format!(
                    "the run could not be completed after {attempts} attempts: its launcher stopped during the last attempt"
                );
                worker.fail(&run, attempts, Outcome::Failed, &why).await;
            }
            Err(unusable) => {
                if let Some(run) = &unusable.run {
                    worker
                        .fail(run, attempts, Outcome::Failed, &unusable.reason)
                        .await;
                }
            }
        }
        if let Err(e) = stream.delete_message(a.stream_seq).await {
            tracing::warn!(seq = a.stream_seq, error = %e, "removing a dead-lettered run");
        }
    }
}
