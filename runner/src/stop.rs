//! The stop signal: why a run must end now, set by whichever part noticed first.
//!
//! The engine's interrupt handler polls it, so a cap reached inside a host call
//! (a log past the output limit) or a deadline becomes an uncatchable stop at
//! the script's next instruction boundary. The first reason set wins.

use std::sync::atomic::{AtomicU8, Ordering};

use moat_wire::Outcome;

/// A reason to stop, recorded once.
#[derive(Debug, Default)]
pub struct Stop(AtomicU8);

const NONE: u8 = u8::MAX;

impl Stop {
    /// A signal with no reason set.
    pub fn new() -> Self {
        Self(AtomicU8::new(NONE))
    }

    /// Records `outcome` as the reason, unless one was recorded before.
    pub fn set(&self, outcome: Outcome) {
        let code = Outcome::ALL
            .iter()
            .position(|o| *o == outcome)
            .expect("every outcome is in ALL") as u8;
        let _ = self
            .0
            .compare_exchange(NONE, code, Ordering::SeqCst, Ordering::SeqCst);
    }

    /// The reason, if one was set.
    pub fn reason(&self) -> Option<Outcome> {
        match self.0.load(Ordering::SeqCst) {
            NONE => None,
            i => Outcome::ALL.get(usize::from(i)).copied(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_reason_wins() {
        let stop = Stop::new();
        assert_eq!(stop.reason(), None);
        stop.set(Outcome::OutputLimit);
        stop.set(Outcome::Timeout);
        assert_eq!(stop.reason(), Some(Outcome::OutputLimit));
    }
}
