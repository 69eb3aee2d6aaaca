//! `moat-egress`: makes every outbound connection on behalf of scripts,
//! under the operator's policy, holding no credentials of moat's.
//!
//! - [`policy`]: which destinations a script may reach (pure decisions);
//! - [`fetch`]: one request under the policy, resolved once, checked, capped;
//! - [`host_rate`], [`peers`]: the fleet-wide limit per destination host,
//!   shared out over the live instances;
//! - [`serve`], [`service`], [`config`], [`metrics`]: the service on NATS;
//! - [`session`]: the host side of a run's host-call channel (budget,
//!   concurrency, replies), used by the launcher and `moat exec`;
//! - [`client`]: the launcher's side of the NATS contract.

pub mod client;
pub mod config;
pub mod fetch;
pub mod host_rate;
pub mod metrics;
pub mod peers;
pub mod policy;
pub mod serve;
pub mod service;
pub mod session;

pub use service::{run, EgressError};
