//! moat's queue, defined once so that the edge (which submits), the
//! launchers (which dispatch and run) and the recorder (which listens) cannot
//! drift: the subjects, the streams and their limits, the per-client
//! consumers, the typed errors of submitting, and the fair dispatcher.
//!
//! - [`subjects`]: every subject and stream name;
//! - [`connection`]: each service's NATS user, credentials, TLS and inbox;
//! - [`client`]: the unit of fairness (a tenant, or an anonymous address
//!   prefix) and the plan it is on;
//! - [`streams`]: the stream definitions, created and updated at start;
//! - [`consumers`]: one durable consumer per client with work, its
//!   concurrency cap enforced by the server;
//! - [`submit`]: publishing a run, with queue-full told apart from down;
//! - [`fair`]: the round-robin order across clients (pure, no I/O);
//! - [`dispatch`]: the launchers' side, fetching from clients in that order;
//! - [`disposition`]: what a failed step in the run pipeline means for the job.
//!
//! It does not run anything: what to do with a delivered run is the
//! launcher's business.

pub mod client;
pub mod connection;
pub mod consumers;
pub mod dispatch;
pub mod disposition;
pub mod fair;
pub mod streams;
pub mod subjects;
pub mod submit;

pub use client::{ClientKey, Plan, Prefixes};
pub use connection::{connect, ConnectError, NatsAuth, Role};
pub use dispatch::{Delivery, DispatchSettings, Dispatcher};
pub use disposition::Disposition;
pub use streams::{ensure_streams, QueueLimits, SetupError};
pub use submit::{submit, SubmitError};
