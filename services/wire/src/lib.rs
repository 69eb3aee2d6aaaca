//! Wire types shared by every part of moat, so that sender and receiver cannot
//! drift: the job the runner reads on stdin, the frames it writes on stdout,
//! the host-call channel between them, and the outcomes (with their exit codes) that every later layer reports.
//!
//! This crate holds data shapes and their invariants only; it does no I/O.

pub mod browser;
pub mod egress;
pub mod frames;
pub mod hostcall;
pub mod ids;
pub mod job;
pub mod outcome;
pub mod run;

pub use frames::{
    DecodeError, FileFrame, Frame, LogFrame, LogLevel, ResultFrame, ScriptError, PROTOCOL_VERSION,
};
pub use ids::valid_token;
pub use job::{Job, JobError, OutputLimits};
pub use outcome::Outcome;
pub use run::{
    file_key, redact_query, Event, EventBody, FileLink, FileRef, NetEvent, NetUsage, RunRecord,
    RunRequest, RunStatus, RunView, Stages,
};
