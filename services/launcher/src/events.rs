//! Publishing a run's events: one envelope (`moat_wire::Event`) per accepted
//! frame on `runs.events.<run>`, numbered from 1 without gaps within an
//! attempt, each confirmed by JetStream before the next is sent, so a
//! subscriber (or a late WebSocket replaying the stream) sees them in order.

use async_nats::jetstream;
use moat_queue::subjects;
use moat_wire::{Event, EventBody, ResultFrame, Stages};

/// Why an event could not be published.
#[derive(Debug, thiserror::Error)]
#[error("publishing event {seq} of run {run}: {message}")]
pub struct PublishError {
    /// The run.
    pub run: String,
    /// The event's sequence number.
    pub seq: u64,
    /// Why.
    pub message: String,
}

/// The events of one attempt of one run.
pub struct EventPublisher {
    js: jetstream::Context,
    run: String,
    attempt: u32,
    seq: u64,
}

impl EventPublisher {
    /// A publisher for `run`'s attempt `attempt`, starting at sequence 1.
    pub fn new(js: jetstream::Context, run: &str, attempt: u32) -> Self {
        Self {
            js,
            run: run.to_owned(),
            attempt,
            seq: 0,
        }
    }

    /// How many events were published.
    pub fn published(&self) -> u64 {
        self.seq
    }

    /// Publishes the next event and waits for JetStream to store it.
    pub async fn publish(&mut self, body: EventBody) -> Result<(), PublishError> {
        self.send(body, None).await
    }

    /// Publishes the result event, with where the run's time went.
    pub async fn publish_result(
        &mut self,
        result: ResultFrame,
        stages: Stages,
    ) -> Result<(), PublishError> {
        self.send(EventBody::Result(result), Some(stages)).await
    }

    async fn send(&mut self, body: EventBody, stages: Option<Stages>) -> Result<(), PublishError> {
        let event = Event {
            v: moat_wire::PROTOCOL_VERSION,
            run: self.run.clone(),
            attempt: self.attempt,
            seq: self.seq + 1,
            body,
            stages,
        };
        let payload = serde_json::to_vec(&event).expect("events serialise");
        let err = |message: String| PublishError {
            run: self.run.clone(),
            seq: self.seq + 1,
            message,
        };
        let ack = self
            .js
            .publish(subjects::events(&self.run), payload.into())
            .await
            .map_err(|e| err(e.to_string()))?;
        ack.await.map_err(|e| err(e.to_string()))?;
        self.seq += 1;
        Ok(())
    }
}
