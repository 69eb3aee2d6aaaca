//! What the launcher hands over for one `fetch()` call: [`Request`], its
//! [`Redirect`] mode, and the run's [`Limits`].
//!
//! Plain data; the rules applied to it live where they are enforced
//! (`headers.rs`, `redirect.rs`, `fetcher.rs`).

use std::time::Duration;

use bytes::Bytes;

/// One request as the script made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The method as the script wrote it; GET, POST, ... are uppercased.
    pub method: String,
    /// The absolute URL asked for.
    pub url: String,
    /// The script's headers, in order; hop-by-hop and framing headers are
    /// dropped (see `headers.rs`).
    pub headers: Vec<(String, String)>,
    /// The request body; must be empty for GET and HEAD.
    pub body: Bytes,
    /// What to do with a 3xx response.
    pub redirect: Redirect,
    /// The whole fetch, every hop and the body included, must finish in
    /// this time.
    pub timeout: Duration,
}

/// The `redirect` option of `fetch()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Redirect {
    /// Follow redirects, each hop under the full policy.
    #[default]
    Follow,
    /// Return the 3xx response as it is, `Location` and all.
    Manual,
    /// Fail with `EGRESS_REDIRECT` on a redirect.
    Error,
}

/// The limits of one fetch, set by the run's plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The most bytes a response may carry: its headers plus its body after
    /// decoding.
    pub max_response_bytes: u64,
    /// The most redirects followed (fetch's limit is 20).
    pub max_redirects: u32,
}

/// 8 MiB and the fetch standard's 20 redirects.
impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_response_bytes: 8 * 1024 * 1024,
            max_redirects: 20,
        }
    }
}
