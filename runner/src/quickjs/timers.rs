//! Timers for `setTimeout` and `setInterval`, kept on the Rust side so the
//! event loop can sleep until the next one without asking the script.
//!
//! Callbacks are held as persistent handles and fired in due order (ties in
//! creation order). The number pending is capped: a script that schedules a
//! million timers gets a `RangeError`, not a runner that holds a million
//! handles.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::time::{Duration, Instant};

use rquickjs::{Function, Persistent};

/// Most timers one run may have pending at once.
pub const MAX_PENDING: usize = 100_000;

/// Longest delay honoured, as in browsers and Node: longer ones fire at once.
const MAX_DELAY_MS: f64 = 2_147_483_647.0;

struct Entry {
    callback: Persistent<Function<'static>>,
    interval: Option<Duration>,
    seq: u64,
    /// Keeps the run alive while pending (all the script's timers do; the
    /// prelude's own, like `AbortSignal.timeout`'s, do not, as in Node).
    keeps_alive: bool,
}

/// The pending timers of one run.
#[derive(Default)]
pub struct Timers {
    next_id: u32,
    next_seq: u64,
    queue: BinaryHeap<Reverse<(Instant, u64, u32)>>,
    entries: HashMap<u32, Entry>,
    /// Entries that keep the run alive.
    alive: usize,
}

/// A timer that is due: its callback, to be called now.
pub struct Due {
    /// The callback.
    pub callback: Persistent<Function<'static>>,
}

/// Converts a script's delay to a duration the way browsers do.
pub fn delay(ms: f64) -> Duration {
    if !(1.0..=MAX_DELAY_MS).contains(&ms) {
        return Duration::ZERO;
    }
    Duration::from_secs_f64(ms / 1000.0)
}

impl Timers {
    /// Schedules a callback; `None` when [`MAX_PENDING`] timers are pending.
    /// A timer that does not `keep_alive` fires only while something else
    /// keeps the run going.
    pub fn add(
        &mut self,
        callback: Persistent<Function<'static>>,
        after: Duration,
        repeat: bool,
        keep_alive: bool,
        now: Instant,
    ) -> Option<u32> {
        if self.entries.len() >= MAX_PENDING {
            return None;
        }
        self.next_id = self.next_id.wrapping_add(1).max(1);
        while self.entries.contains_key(&self.next_id) {
            self.next_id = self.next_id.wrapping_add(1).max(1);
        }
        let id = self.next_id;
        let seq = self.push(id, now + after);
        let interval = repeat.then_some(after);
        self.alive += usize::from(keep_alive);
        self.entries.insert(
            id,
            Entry {
                callback,
                interval,
                seq,
                keeps_alive: keep_alive,
            },
        );
        Some(id)
    }

    fn push(&mut self, id: u32, due: Instant) -> u64 {
        self.next_seq += 1;
        self.queue.push(Reverse((due, self.next_seq, id)));
        self.next_seq
    }

    /// Whether a pending timer keeps the run alive.
    pub fn keep_alive(&self) -> bool {
        self.alive > 0
    }

    fn remove(&mut self, id: u32) {
        if let Some(e) = self.entries.remove(&id) {
            self.alive -= usize::from(e.keeps_alive);
        }
    }

    /// Cancels a timer; unknown ids are ignored, as in browsers.
    pub fn clear(&mut self, id: u32) {
        self.remove(id);
    }

    /// When the next live timer is due, dropping cancelled ones on the way.
    pub fn next_due(&mut self) -> Option<Instant> {
        while let Some(Reverse((due, seq, id))) = self.queue.peek().copied() {
            match self.entries.get(&id) {
                Some(e) if e.seq == seq => return Some(due),
                _ => {
                    self.queue.pop();
                }
            }
        }
        None
    }

    /// Takes the next timer if it is due at `now`; intervals are rescheduled
    /// before their callback runs, so the callback may clear them.
    pub fn take_due(&mut self, now: Instant) -> Option<Due> {
        let due = self.next_due()?;
        if due > now {
            return None;
        }
        let Reverse((_, _, id)) = self.queue.pop()?;
        let entry = self.entries.get(&id)?;
        let callback = entry.callback.clone();
        match entry.interval {
            Some(every) => {
                // An interval of 0 still yields to other timers and jobs.
                let seq = self.push(id, now + every.max(Duration::from_millis(1)));
                if let Some(e) = self.entries.get_mut(&id) {
                    e.seq = seq;
                }
            }
            None => self.remove(id),
        }
        Some(Due { callback })
    }

    /// Drops every timer (and its handle) before the engine is torn down.
    pub fn clear_all(&mut self) {
        self.entries.clear();
        self.queue.clear();
        self.alive = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_follow_browser_rules() {
        assert_eq!(delay(f64::NAN), Duration::ZERO);
        assert_eq!(delay(-5.0), Duration::ZERO);
        assert_eq!(delay(0.5), Duration::ZERO);
        assert_eq!(delay(10.0), Duration::from_millis(10));
        assert_eq!(delay(1e12), Duration::ZERO);
    }
}
