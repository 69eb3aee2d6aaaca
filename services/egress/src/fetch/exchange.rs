//! One HTTP exchange on a connection `connect.rs` opened (and `tls.rs`
//! secured): HTTP/2 when TLS negotiated h2, else HTTP/1.1; the request
//! head built for that version; hyper's errors mapped to ours.
//!
//! One connection carries one request and is closed when the response is
//! read or dropped, so nothing of one request (or run) reaches another.
//! What this module does not do: follow redirects or read the body.

use std::error::Error as _;
use std::io;
use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{HeaderMap, HeaderValue};
use hyper::{Method, Uri, Version};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::task::JoinHandle;
use url::{Position, Url};

use super::error::FetchError;
use super::headers;
use super::tls;

/// The most bytes of response headers accepted (HTTP/1 head, status line
/// included; HTTP/2 header list).
pub const MAX_HEADER_BYTES: usize = 64 * 1024;
/// The most response header lines accepted over HTTP/1.
const MAX_HEADERS: usize = 512;
/// hyper's HTTP/1 read buffer: the head must fit in it, and it bounds
/// what one connection buffers.
const MAX_BUF: usize = MAX_HEADER_BYTES + 16 * 1024;

/// What one hop sends.
pub(crate) struct Outgoing<'a> {
    /// The method.
    pub method: &'a Method,
    /// The URL, already checked by the policy.
    pub url: &'a Url,
    /// The script's headers, already filtered (`headers::from_script`).
    pub headers: &'a HeaderMap,
    /// The default `User-Agent`.
    pub user_agent: &'a HeaderValue,
    /// The body.
    pub body: &'a Bytes,
}

/// The response head of one hop, with the connection it came on.
pub(crate) struct Exchange {
    /// The response; its body is still to be read.
    pub response: hyper::Response<Incoming>,
    /// The connection, kept open while the body is read.
    pub connection: Connection,
    /// The checked address the connection went to.
    pub remote: SocketAddr,
}

/// The task driving one connection; dropping it closes the connection, so
/// a fetch that ends (or times out) leaves nothing running.
pub(crate) struct Connection(JoinHandle<()>);

impl Drop for Connection {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Sends `out` over `stream` (to `remote`) and waits for the response
/// head. `h2` is whether TLS negotiated HTTP/2; `host` names the server in
/// TLS errors.
pub(crate) async fn send<T>(
    stream: T,
    h2: bool,
    remote: SocketAddr,
    out: &Outgoing<'_>,
    host: &str,
) -> Result<Exchange, FetchError>
where
    T: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let request = build(out, h2)?;
    let io = TokioIo::new(stream);
    let map = |error| hyper_error(error, host);
    let (response, connection) = if h2 {
        let (mut sender, conn) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
            .max_header_list_size(MAX_HEADER_BYTES as u32)
            .handshake(io)
            .await
            .map_err(map)?;
        let connection = spawn(conn);
        (sender.send_request(request).await.map_err(map)?, connection)
    } else {
        let (mut sender, conn) = hyper::client::conn::http1::Builder::new()
            .max_buf_size(MAX_BUF)
            .max_header_size(MAX_HEADER_BYTES)
            .max_headers(MAX_HEADERS)
            .handshake(io)
            .await
            .map_err(map)?;
        let connection = spawn(conn);
        (sender.send_request(request).await.map_err(map)?, connection)
    };
    Ok(Exchange {
        response,
        connection,
        remote,
    })
}

/// Drives a connection in its own task until it ends or is dropped.
fn spawn<F>(conn: F) -> Connection
where
    F: std::future::Future<Output = hyper::Result<()>> + Send + 'static,
{
    Connection(tokio::spawn(async move {
        if let Err(error) = conn.await {
            tracing::debug!(%error, "egress connection ended");
        }
    }))
}

/// The request for one hop. HTTP/1 gets the origin-form target and a
/// `Host` header; HTTP/2 the absolute URL, whose authority hyper sends as
/// `:authority`. The fragment is never sent.
fn build(out: &Outgoing<'_>, h2: bool) -> Result<hyper::Request<Full<Bytes>>, FetchError> {
    let (target, host) = if h2 {
        (&out.url[..Position::AfterQuery], None)
    } else {
        let host = match (out.url.host_str(), out.url.port()) {
            (Some(host), Some(port)) => format!("{host}:{port}"),
            (Some(host), None) => host.to_string(),
            (None, _) => String::new(),
        };
        (
            &out.url[Position::BeforePath..Position::AfterQuery],
            Some(host),
        )
    };
    let uri: Uri = target
        .parse()
        .map_err(|_| FetchError::InvalidRequest(format!("{} cannot be requested", out.url)))?;
    let headers = headers::for_hop(
        out.headers,
        host.as_deref(),
        out.user_agent,
        out.method,
        out.body.len(),
    )?;
    let mut request = hyper::Request::new(Full::new(out.body.clone()));
    *request.method_mut() = out.method.clone();
    *request.uri_mut() = uri;
    *request.version_mut() = if h2 {
        Version::HTTP_2
    } else {
        Version::HTTP_11
    };
    *request.headers_mut() = headers;
    Ok(request)
}

/// Maps a hyper error, from the head or the body, to ours.
pub(crate) fn hyper_error(error: hyper::Error, host: &str) -> FetchError {
    if head_too_large(&error) {
        return FetchError::HeadersTooLarge {
            max: MAX_HEADER_BYTES,
        };
    }
    if error.is_parse() || error.is_parse_status() {
        return FetchError::Protocol(error.to_string());
    }
    if error.is_incomplete_message() || error.is_canceled() || error.is_closed() {
        return FetchError::Closed;
    }
    let mut source = error.source();
    let mut detail = error.to_string();
    while let Some(cause) = source {
        if let Some(io) = cause.downcast_ref::<io::Error>() {
            return tls::io_error(host, io);
        }
        detail = format!("{detail}: {cause}");
        source = cause.source();
    }
    FetchError::Protocol(detail)
}

/// Whether hyper refused a response head over the limits. hyper's
/// `is_parse_too_large` exists only with its server feature, so this reads
/// the kind's fixed description; the huge-header test pins it.
fn head_too_large(error: &hyper::Error) -> bool {
    error.is_parse() && error.to_string() == "message head is too large"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn built(url: &str, h2: bool) -> hyper::Request<Full<Bytes>> {
        let url = Url::parse(url).unwrap();
        let out = Outgoing {
            method: &Method::GET,
            url: &url,
            headers: &HeaderMap::new(),
            user_agent: &HeaderValue::from_static("moat"),
            body: &Bytes::new(),
        };
        build(&out, h2).unwrap()
    }

    #[test]
    fn http1_gets_origin_form_and_a_host_header() {
        let request = built("http://api.test:8080/a/b?c=d#frag", false);
        assert_eq!(request.uri(), "/a/b?c=d");
        assert_eq!(request.headers()["host"], "api.test:8080");
        let request = built("https://[::1]/", false);
        assert_eq!(request.uri(), "/");
        assert_eq!(request.headers()["host"], "[::1]");
    }

    #[test]
    fn http2_gets_the_absolute_url_and_no_host_header() {
        let request = built("https://api.test/x?y#frag", true);
        assert_eq!(request.uri(), "https://api.test/x?y");
        assert_eq!(request.version(), Version::HTTP_2);
        assert!(!request.headers().contains_key("host"));
    }
}
