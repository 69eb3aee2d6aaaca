//! Headers across the boundary: which of the script's request headers are
//! sent and which moat sets itself, and the response's headers turned into
//! the strings the script reads.
//!
//! Header values cross as Latin-1 both ways (fetch's ByteString: one char
//! per byte), so nothing is lost or reinterpreted.

use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::Method;

use super::error::FetchError;

/// What we ask servers to compress with: exactly what `decode.rs` decodes.
const ACCEPT_ENCODING: &str = "gzip, deflate, br";

/// Request headers the script may not set: they frame the message or
/// control the connection, which is ours alone (`Content-Length`, `Host`
/// and `Accept-Encoding` we set ourselves). `Expect` is here because we do
/// not wait for 100-continue.
const RESERVED: &[&str] = &[
    "accept-encoding",
    "connection",
    "content-length",
    "expect",
    "host",
    "http2-settings",
    "keep-alive",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Whether the script may set this request header.
fn reserved(name: &HeaderName) -> bool {
    let name = name.as_str();
    RESERVED.contains(&name) || name.starts_with("proxy-")
}

/// The script's headers that will be sent, in order, checked.
///
/// Reserved headers are dropped silently, as a browser's fetch ignores
/// forbidden headers, so a script written for Node or a browser still
/// works. A name or value that is not valid HTTP fails the request: the
/// `http` types refuse CR, LF and NUL, so a script cannot inject a header
/// or a second request.
pub(crate) fn from_script(pairs: &[(String, String)]) -> Result<HeaderMap, FetchError> {
    let mut headers = HeaderMap::new();
    for (name, value) in pairs {
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
            FetchError::InvalidRequest(format!("{name:?} is not a valid header name"))
        })?;
        if reserved(&name) {
            continue;
        }
        let value = encode_latin1(value.trim_matches([' ', '\t', '\r', '\n']))
            .and_then(|bytes| HeaderValue::from_bytes(&bytes).ok())
            .ok_or_else(|| {
                FetchError::InvalidRequest(format!("the value of the header {name} is not valid"))
            })?;
        headers.append(name, value);
    }
    Ok(headers)
}

/// The headers of one hop: `Host` (HTTP/1 only; HTTP/2 carries the
/// authority in the request line), the script's, then the defaults the
/// script did not set and the ones we always set.
pub(crate) fn for_hop(
    script: &HeaderMap,
    host: Option<&str>,
    user_agent: &HeaderValue,
    method: &Method,
    body_len: usize,
) -> Result<HeaderMap, FetchError> {
    let mut headers = HeaderMap::with_capacity(script.len() + 5);
    if let Some(host) = host {
        let host = HeaderValue::from_str(host)
            .map_err(|_| FetchError::InvalidRequest(format!("{host} is not a valid host")))?;
        headers.insert(header::HOST, host);
    }
    for (name, value) in script {
        headers.append(name, value.clone());
    }
    if !headers.contains_key(header::USER_AGENT) {
        headers.insert(header::USER_AGENT, user_agent.clone());
    }
    if !headers.contains_key(header::ACCEPT) {
        headers.insert(header::ACCEPT, HeaderValue::from_static("*/*"));
    }
    headers.insert(
        header::ACCEPT_ENCODING,
        HeaderValue::from_static(ACCEPT_ENCODING),
    );
    // The fetch standard's rule: a length for any body, and 0 for a POST or
    // PUT without one.
    if body_len > 0 || *method == Method::POST || *method == Method::PUT {
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(body_len));
    }
    Ok(headers)
}

/// The response's headers for the script, grouped by name in the order the
/// names first came. After decoding, the length and coding describe bytes
/// the script never sees, so they go.
pub(crate) fn to_pairs(headers: &HeaderMap, decoded: bool) -> Vec<(String, String)> {
    headers
        .iter()
        .filter(|(name, _)| {
            !(decoded && (*name == header::CONTENT_ENCODING || *name == header::CONTENT_LENGTH))
        })
        .map(|(name, value)| (name.as_str().to_string(), latin1(value.as_bytes())))
        .collect()
}

/// The bytes the headers take, as counted against the response cap: each
/// name and value, plus ": " and CRLF.
pub(crate) fn size(headers: &HeaderMap) -> u64 {
    headers
        .iter()
        .map(|(name, value)| (name.as_str().len() + value.len() + 4) as u64)
        .sum()
}

/// Decodes bytes as Latin-1: each byte is the char of that number.
pub(crate) fn latin1(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| char::from(b)).collect()
}

/// Encodes a string as Latin-1, or `None` if a char is above U+00FF (fetch
/// refuses those in a header value).
fn encode_latin1(s: &str) -> Option<Vec<u8>> {
    s.chars().map(|c| u8::try_from(u32::from(c)).ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn reserved_headers_are_dropped_and_the_rest_kept_in_order() {
        let headers = from_script(&pairs(&[
            ("X-One", " 1 "),
            ("Host", "evil.example"),
            ("Connection", "keep-alive, Upgrade"),
            ("Transfer-Encoding", "chunked"),
            ("Content-Length", "5"),
            ("Proxy-Authorization", "Basic x"),
            ("Accept-Encoding", "identity"),
            ("x-one", "2"),
            ("Authorization", "Bearer t"),
        ]))
        .unwrap();
        let kept: Vec<_> = headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.to_str().unwrap()))
            .collect();
        assert_eq!(
            kept,
            [
                ("x-one", "1"),
                ("x-one", "2"),
                ("authorization", "Bearer t")
            ]
        );
    }

    #[test]
    fn header_injection_is_refused() {
        for (name, value) in [
            ("X-A", "1\r\nHost: evil"),
            ("X-A", "a\nb"),
            ("X-A", "a\0b"),
            ("X-A\r\nB", "1"),
            ("X A", "1"),
            ("", "1"),
            ("X-A", "\u{263a}"),
        ] {
            let error = from_script(&pairs(&[(name, value)])).unwrap_err();
            assert_eq!(error.code(), "ERR_INVALID_ARG_VALUE", "{name:?}: {value:?}");
        }
    }

    #[test]
    fn latin1_values_round_trip() {
        let headers = from_script(&pairs(&[("X-A", "caf\u{e9}")])).unwrap();
        assert_eq!(headers["x-a"].as_bytes(), b"caf\xe9");
        assert_eq!(latin1(headers["x-a"].as_bytes()), "caf\u{e9}");
    }

    #[test]
    fn our_headers_are_added_around_the_scripts() {
        let ua = HeaderValue::from_static("moat");
        let script = from_script(&pairs(&[("User-Agent", "mine")])).unwrap();
        let hop = for_hop(&script, Some("api.test:8080"), &ua, &Method::POST, 0).unwrap();
        assert_eq!(hop["host"], "api.test:8080");
        assert_eq!(hop["user-agent"], "mine");
        assert_eq!(hop["accept"], "*/*");
        assert_eq!(hop["accept-encoding"], "gzip, deflate, br");
        assert_eq!(hop["content-length"], "0");
        let hop = for_hop(&HeaderMap::new(), None, &ua, &Method::GET, 0).unwrap();
        assert_eq!(hop["user-agent"], "moat");
        assert!(!hop.contains_key("host"));
        assert!(!hop.contains_key("content-length"));
    }

    #[test]
    fn decoded_responses_lose_their_length_and_coding() {
        let mut headers = HeaderMap::new();
        headers.insert("content-encoding", HeaderValue::from_static("gzip"));
        headers.insert("content-length", HeaderValue::from_static("10"));
        headers.insert("x-a", HeaderValue::from_bytes(b"\xff").unwrap());
        assert_eq!(to_pairs(&headers, true), [("x-a".into(), "\u{ff}".into())]);
        assert_eq!(to_pairs(&headers, false).len(), 3);
        assert_eq!(size(&headers), (16 + 4 + 4) + (14 + 2 + 4) + (3 + 1 + 4));
    }
}
