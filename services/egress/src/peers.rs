//! How many egress instances are live, for [`crate::host_rate`]'s share:
//! each instance announces itself on [`EGRESS_PEERS_SUBJECT`] every
//! [`ANNOUNCE_EVERY`], and counts the instances heard from within
//! [`FORGET_AFTER`] (itself included). One that stops says so, and is
//! dropped at once; one that dies is dropped after [`FORGET_AFTER`], during
//! which the others take less than their share, never more.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use moat_wire::egress::{EgressPeer, EGRESS_PEERS_SUBJECT};
use tokio_util::sync::CancellationToken;

/// How often an instance announces itself.
pub const ANNOUNCE_EVERY: Duration = Duration::from_secs(1);
/// How long an instance counts as live after its last announcement.
pub const FORGET_AFTER: Duration = Duration::from_secs(3);
/// Most instances counted: a flood of made-up ids cannot grow the table
/// (or shrink each share) past it.
const MAX_PEERS: usize = 1024;

/// The instances heard from and when.
#[derive(Debug, Default)]
pub struct Peers {
    seen: HashMap<String, Instant>,
}

impl Peers {
    /// Notes an announcement at `now`.
    pub fn heard(&mut self, peer: &EgressPeer, now: Instant) {
        if peer.leaving {
            self.seen.remove(&peer.id);
        } else if self.seen.len() < MAX_PEERS || self.seen.contains_key(&peer.id) {
            self.seen.insert(peer.id.clone(), now);
        }
    }

    /// The live instances at `now`, at least one (this one).
    pub fn live(&mut self, now: Instant) -> usize {
        self.seen
            .retain(|_, at| now.saturating_duration_since(*at) < FORGET_AFTER);
        self.seen.len().max(1)
    }
}

/// Announces this instance as `id` and keeps `instances` at the number of
/// live ones until `shutdown`, then says it is leaving.
pub async fn track(
    nats: async_nats::Client,
    id: String,
    instances: Arc<AtomicUsize>,
    shutdown: CancellationToken,
) -> Result<(), async_nats::SubscribeError> {
    let mut heard = nats.subscribe(EGRESS_PEERS_SUBJECT).await?;
    let announce = |leaving: bool| {
        let peer = EgressPeer {
            v: moat_wire::PROTOCOL_VERSION,
            id: id.clone(),
            leaving,
        };
        serde_json::to_vec(&peer).expect("announcements serialise")
    };
    let mut peers = Peers::default();
    let mut tick = tokio::time::interval(ANNOUNCE_EVERY);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            _ = tick.tick() => {
                // A failed announcement is retried on the next tick; until
                // then the others count this instance a little longer.
                let _ = nats.publish(EGRESS_PEERS_SUBJECT, announce(false).into()).await;
            }
            message = heard.next() => {
                let Some(message) = message else { break };
                // Anything that is not an announcement is ignored.
                if let Ok(peer) = serde_json::from_slice::<EgressPeer>(&message.payload) {
                    peers.heard(&peer, Instant::now());
                }
            }
        }
        let live = peers.live(Instant::now());
        if instances.swap(live, Ordering::Relaxed) != live {
            tracing::info!(
                instances = live,
                "egress instances sharing the per-host rate"
            );
        }
    }
    let _ = nats
        .publish(EGRESS_PEERS_SUBJECT, announce(true).into())
        .await;
    let _ = nats.flush().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(id: &str, leaving: bool) -> EgressPeer {
        EgressPeer {
            v: 1,
            id: id.into(),
            leaving,
        }
    }

    #[test]
    fn live_instances_are_counted_and_the_silent_forgotten() {
        let mut peers = Peers::default();
        let t0 = Instant::now();
        assert_eq!(peers.live(t0), 1);
        peers.heard(&peer("a", false), t0);
        peers.heard(&peer("b", false), t0);
        peers.heard(&peer("a", false), t0 + Duration::from_secs(2));
        assert_eq!(peers.live(t0 + Duration::from_secs(2)), 2);
        // b fell silent.
        assert_eq!(peers.live(t0 + Duration::from_millis(3500)), 1);
        // One that leaves is dropped at once.
        peers.heard(&peer("c", false), t0 + Duration::from_secs(4));
        peers.heard(&peer("c", true), t0 + Duration::from_secs(4));
        assert_eq!(peers.live(t0 + Duration::from_secs(4)), 1);
    }

    #[test]
    fn made_up_ids_cannot_grow_the_table_past_its_cap() {
        let mut peers = Peers::default();
        let t0 = Instant::now();
        for i in 0..5000 {
            peers.heard(&peer(&format!("p{i}"), false), t0);
        }
        assert_eq!(peers.live(t0), MAX_PEERS);
    }
}
