//! The egress policy: which destinations a script may reach.
//!
//! Pure decisions, no I/O: the service parses a URL with [`target`], checks
//! it with [`Policy::check_target`] before DNS, resolves it itself, checks
//! every resolved address with [`Policy::check_addr`], connects only to an
//! address that passed, and does it all again on every redirect hop.
//!
//! # Precedence
//!
//! Checks run in this order; the first that refuses wins.
//!
//! 1. **Scheme and credentials** ([`target`]): only `http:` and `https:`,
//!    no `user:password@`.
//! 2. **Blocked ports** (default 25, 465, 587): always refused, even to an
//!    address in `allow_nets` or on an allow-only list.
//! 3. **Deny lists**: `deny_domains` for the domain asked for, `deny_nets`
//!    for the address and every IPv4 address it embeds. Deny beats any
//!    allow.
//! 4. **Allow-only lists**, when any are set: the destination must match
//!    each one, by a domain rule or by its address (an IPv4-mapped address
//!    counts as its IPv4 address). They limit everything, `allow_nets`
//!    included, and exempt nothing from the built-in block.
//! 5. **The built-in block** ([`classify`]): loopback, private, link-local
//!    and the other special-purpose ranges, judged through IPv6 embeddings.
//!    `allow_nets` exempts an address from this step, and only this one.
//!
//! Layers (plan, tenant) only narrow the operator's policy: see
//! [`Policy::narrow`] and [`PlanPolicies`].
//!
//! What this module does not do: resolve names, open connections, or follow
//! redirects.

mod address;
mod domain;
mod embedding;
mod kind;
mod narrow;
mod plans;
mod port;
mod ranges;
mod refusal;
mod rules;
mod settings;
mod target;

pub use address::{classify, Blocked};
pub use domain::matches as domain_matches;
pub use embedding::{embedded, Embedding};
pub use kind::Kind;
pub use narrow::Narrowing;
pub use plans::PlanPolicies;
pub use port::DEFAULT_BLOCKED_PORTS;
pub use refusal::{Refusal, EGRESS_DENIED};
pub use rules::{AllowOnly, Policy};
pub use settings::{parse_domains, parse_narrowing, parse_nets, parse_ports, SettingsError};
pub use target::{target, Host, Target};
