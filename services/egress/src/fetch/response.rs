//! [`Response`]: what the script gets back from one fetch, body read and
//! decoded in full.

use std::net::SocketAddr;

use bytes::Bytes;

/// The final response of a fetch, after any redirects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The HTTP/1 reason phrase as sent; empty over HTTP/2.
    pub status_text: String,
    /// The headers in the order received, names lowercase, values decoded
    /// byte for byte as Latin-1 (fetch's ByteString). After decoding a
    /// body, `content-encoding` and `content-length` are removed.
    pub headers: Vec<(String, String)>,
    /// The final URL, without its fragment.
    pub url: String,
    /// Whether any redirect was followed.
    pub redirected: bool,
    /// The body, decoded.
    pub body: Bytes,
    /// The address the final response came from: one the policy checked.
    pub remote: SocketAddr,
}
