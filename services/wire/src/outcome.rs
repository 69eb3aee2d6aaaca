//! How a run ended: one closed set of outcomes, each with the runner's exit code.
//!
//! Every layer reports the same names (the runner's result frame, the launcher's
//! final record, the edge's API), so a user sees one vocabulary for every limit.

use serde::{Deserialize, Serialize};

/// The outcome of a run, as the user sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The script finished; its value is the run's value.
    Ok,
    /// An uncaught exception or unhandled rejection.
    Error,
    /// The script (or a whitelisted module) does not parse.
    SyntaxError,
    /// An import named a module outside the whitelist.
    ModuleNotAllowed,
    /// The run reached its deadline.
    Timeout,
    /// The run reached its memory limit.
    Oom,
    /// The script recursed past the stack limit.
    StackOverflow,
    /// The run reached a cap on logs, frames, files or result size.
    OutputLimit,
    /// The job itself was malformed; nothing ran.
    InvalidJob,
    /// The runner's output broke the frame protocol (reported by the launcher).
    ProtocolError,
    /// The run could not be completed by the infrastructure (reported by the launcher).
    Failed,
    /// A bug in the runner; nothing the script did should cause it.
    InternalError,
}

impl Outcome {
    /// The runner's process exit status for this outcome; 0 only for [`Outcome::Ok`].
    ///
    /// This table is the one place exit codes are defined: the runner exits with
    /// them and the launcher reads them back (code 137 is the sandbox's OOM kill,
    /// never the runner's own choice).
    pub const fn exit_code(self) -> u8 {
        match self {
            Outcome::Ok => 0,
            Outcome::Error => 10,
            Outcome::SyntaxError => 11,
            Outcome::ModuleNotAllowed => 12,
            Outcome::Timeout => 13,
            Outcome::Oom => 14,
            Outcome::StackOverflow => 15,
            Outcome::OutputLimit => 16,
            Outcome::InvalidJob => 20,
            Outcome::ProtocolError => 21,
            Outcome::Failed => 22,
            Outcome::InternalError => 23,
        }
    }

    /// The outcome a runner exit status stands for, if it is one of ours.
    pub fn from_exit_code(code: i32) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|o| i32::from(o.exit_code()) == code)
    }

    /// Every outcome, for tables and tests.
    pub const ALL: [Outcome; 12] = [
        Outcome::Ok,
        Outcome::Error,
        Outcome::SyntaxError,
        Outcome::ModuleNotAllowed,
        Outcome::Timeout,
        Outcome::Oom,
        Outcome::StackOverflow,
        Outcome::OutputLimit,
        Outcome::InvalidJob,
        Outcome::ProtocolError,
        Outcome::Failed,
        Outcome::InternalError,
    ];

    /// The snake_case name used on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Error => "error",
            Outcome::SyntaxError => "syntax_error",
            Outcome::ModuleNotAllowed => "module_not_allowed",
            Outcome::Timeout => "timeout",
            Outcome::Oom => "oom",
            Outcome::StackOverflow => "stack_overflow",
            Outcome::OutputLimit => "output_limit",
            Outcome::InvalidJob => "invalid_job",
            Outcome::ProtocolError => "protocol_error",
            Outcome::Failed => "failed",
            Outcome::InternalError => "internal_error",
        }
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_are_distinct_and_round_trip() {
        let mut seen = std::collections::HashSet::new();
        for o in Outcome::ALL {
            assert!(seen.insert(o.exit_code()), "duplicate exit code for {o}");
            assert_eq!(Outcome::from_exit_code(o.exit_code().into()), Some(o));
            assert_eq!(serde_json::to_value(o).unwrap(), o.as_str());
        }
        assert_eq!(Outcome::Ok.exit_code(), 0);
        assert_eq!(Outcome::from_exit_code(137), None);
    }
}
