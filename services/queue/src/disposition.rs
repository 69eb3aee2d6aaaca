//! What a failed step in the run pipeline means for the job, so every error
//! on that path says it once and callers branch on it, not on text.

/// What to do with a run whose handling failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// A passing fault (NATS, containerd, the store): hand the run back to
    /// the queue for another attempt.
    Retry,
    /// The run can never succeed (it cannot be decoded, or it is invalid):
    /// record it `failed` with the reason and remove it.
    Permanent,
    /// This launcher is stopping: hand the run back untouched for another
    /// launcher to run.
    Cancelled,
}
