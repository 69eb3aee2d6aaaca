//! The egress HTTP client core: one script `fetch()` in, one response or a
//! typed, script-facing error out.
//!
//! Every hop, redirects included, goes through the policy before DNS,
//! resolves once, has every resolved address checked, and connects only to
//! a checked address (`connect.rs`); the request's timeout covers all of
//! it, and the response is capped after decoding. One connection per
//! request, no cookie jar, no TLS resumption: nothing of one request
//! reaches another.
//!
//! What this module does not do: talk to NATS, count quotas, or keep
//! anything between requests; the egress front does those and calls
//! [`Fetcher::fetch`].

mod body;
mod connect;
mod decode;
mod dns;
mod error;
mod exchange;
mod fetcher;
mod headers;
mod method;
mod redirect;
mod request;
mod resolve;
mod response;
mod tls;

pub use error::{FetchError, TlsFailure};
pub use exchange::MAX_HEADER_BYTES;
pub use fetcher::{ConfigError, Fetcher, FetcherConfig};
pub use request::{Limits, Redirect, Request};
pub use resolve::Resolver;
pub use response::Response;
pub use tls::{load_ca_file, CaFileError};
