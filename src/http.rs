//! The client side of the edge's API: one HTTP/1.1 request per connection
//! and WebSocket sessions, over plain TCP or TLS (rustls with the system's
//! roots). Small on purpose: `moat run` makes a handful of requests per run,
//! so there is no pool, and one stream type serves both protocols.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::header::{HeaderMap, HeaderValue};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use url::Url;

/// How long connecting (TCP and TLS) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one request may take, body included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// Largest response body read into memory (files are at most a few MiB).
const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

/// Why talking to the server failed (not what it answered: see [`Answer`]).
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The server URL is not one we can use.
    #[error("{0}")]
    BadUrl(String),
    /// Nothing accepted the connection.
    #[error("cannot reach moat at {url}: {source}")]
    Connect {
        /// The server.
        url: String,
        /// Why.
        source: std::io::Error,
    },
    /// Connecting took too long.
    #[error("cannot reach moat at {0}: no answer within 10 s")]
    ConnectTimeout(String),
    /// The TLS handshake failed.
    #[error("TLS with {url} failed: {source}")]
    Tls {
        /// The server.
        url: String,
        /// Why.
        source: std::io::Error,
    },
    /// The request failed midway.
    #[error("the request to {url} failed: {message}")]
    Request {
        /// The server.
        url: String,
        /// Why.
        message: String,
    },
    /// The WebSocket could not be opened.
    #[error("cannot open the event stream: {0}")]
    WebSocket(String),
    /// The server refused to open the WebSocket; a sentence for a person.
    #[error("{0}")]
    Refused(String),
}

/// A connection to the server, plain or TLS.
pub enum Stream {
    /// `http://` / `ws://`.
    Plain(TcpStream),
    /// `https://` / `wss://`.
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// What the server answered.
#[derive(Debug)]
pub struct Answer {
    /// The status code.
    pub status: u16,
    /// The headers.
    pub headers: HeaderMap,
    /// The body.
    pub body: Bytes,
}

impl Answer {
    /// A header as text, if present and readable.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body as JSON (`Null` when it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// An error answer as a sentence for a person.
    pub fn sentence(&self) -> String {
        let json = self.json();
        let code = json["error"]["code"].as_str().unwrap_or("");
        let message = json["error"]["message"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| String::from_utf8_lossy(&self.body).trim().to_owned());
        let retry = self
            .header("retry-after")
            .and_then(|v| v.trim().parse::<u64>().ok());
        let wait = |secs: u64| match secs {
            0 | 1 => "in a second".to_owned(),
            n => format!("in {n} seconds"),
        };
        match (self.status, code) {
            (429, "queue_full") => format!(
                "Your queue of runs is full; try again {}, when some have finished.",
                wait(retry.unwrap_or(5))
            ),
            (429, _) => format!(
                "Too many requests: the server is rate-limiting you. Try again {}.",
                wait(retry.unwrap_or(1))
            ),
            (401, _) => "The API key was not accepted; check --key (or MOAT_API_KEY).".to_owned(),
            (404, _) => "The server does not know that run (or it is not yours).".to_owned(),
            (413, _) => format!("The script is too large for the server: {message}."),
            (503, _) => {
                format!("The service is unavailable right now ({message}); try again shortly.")
            }
            (400..=499, _) => format!("The server refused the script: {message}."),
            (status, _) => format!("The server answered {status}: {message}."),
        }
    }
}

/// The server, and how to reach it.
#[derive(Clone)]
pub struct Server {
    base: Url,
    key: Option<String>,
    tls: Option<Arc<tokio_rustls::rustls::ClientConfig>>,
}

impl Server {
    /// A server at `base` (`http://` or `https://`), calling with `key` if given.
    pub fn new(base: &str, key: Option<String>) -> Result<Self, HttpError> {
        let base = Url::parse(base)
            .map_err(|e| HttpError::BadUrl(format!("the server URL {base:?} is not valid: {e}")))?;
        let tls = match base.scheme() {
            "http" => None,
            "https" => Some(Arc::new(tls_config())),
            other => {
                return Err(HttpError::BadUrl(format!(
                    "the server URL must start with http:// or https://, not {other}://"
                )))
            }
        };
        if base.host_str().is_none() {
            return Err(HttpError::BadUrl(format!(
                "the server URL {base} has no host"
            )));
        }
        Ok(Self { base, key, tls })
    }

    /// The server's address, for messages.
    pub fn url(&self) -> &str {
        self.base.as_str().trim_end_matches('/')
    }

    /// The host to connect to: an IPv6 address without its URL brackets.
    fn host(&self) -> String {
        match self.base.host() {
            Some(url::Host::Ipv6(ip)) => ip.to_string(),
            Some(host) => host.to_string(),
            None => String::new(),
        }
    }

    async fn connect(&self) -> Result<Stream, HttpError> {
        let host = self.host();
        let port = self.base.port_or_known_default().unwrap_or(80);
        let url = self.url().to_owned();
        let tcp = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect((host.as_str(), port)))
            .await
            .map_err(|_| HttpError::ConnectTimeout(url.clone()))?
            .map_err(|source| HttpError::Connect {
                url: url.clone(),
                source,
            })?;
        let _ = tcp.set_nodelay(true);
        let Some(tls) = &self.tls else {
            return Ok(Stream::Plain(tcp));
        };
        let name = tokio_rustls::rustls::pki_types::ServerName::try_from(host)
            .map_err(|e| HttpError::BadUrl(e.to_string()))?;
        let stream = tokio::time::timeout(
            CONNECT_TIMEOUT,
            tokio_rustls::TlsConnector::from(tls.clone()).connect(name, tcp),
        )
        .await
        .map_err(|_| HttpError::ConnectTimeout(url.clone()))?
        .map_err(|source| HttpError::Tls { url, source })?;
        Ok(Stream::Tls(Box::new(stream)))
    }

    /// One request; `path` may carry a query. JSON bodies only.
    pub async fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<Answer, HttpError> {
        let failed = |message: String| HttpError::Request {
            url: self.url().to_owned(),
            message,
        };
        let stream = self.connect().await?;
        let io = hyper_util::rt::TokioIo::new(stream);
        let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
            .await
            .map_err(|e| failed(e.to_string()))?;
        let conn = tokio::spawn(conn);
        let mut req = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header(hyper::header::HOST, self.host_header())
            .header(
                hyper::header::USER_AGENT,
                concat!("moat/", env!("CARGO_PKG_VERSION")),
            );
        if let Some(key) = &self.key {
            req = req.header(hyper::header::AUTHORIZATION, format!("Bearer {key}"));
        }
        if body.is_some() {
            req = req.header(
                hyper::header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
        }
        let req = req
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|e| failed(e.to_string()))?;
        let answer = tokio::time::timeout(REQUEST_TIMEOUT, async {
            let resp = sender
                .send_request(req)
                .await
                .map_err(|e| failed(e.to_string()))?;
            let status = resp.status().as_u16();
            let headers = resp.headers().clone();
            let body = Limited::new(resp.into_body(), MAX_BODY_BYTES)
                .collect()
                .await
                .map_err(|e| failed(e.to_string()))?
                .to_bytes();
            Ok::<_, HttpError>(Answer {
                status,
                headers,
                body,
            })
        })
        .await
        .map_err(|_| failed("no answer within 60 s".into()))?;
        conn.abort();
        answer
    }

    /// Opens the WebSocket at `path` (which carries the run token).
    pub async fn websocket(
        &self,
        path: &str,
    ) -> Result<tokio_tungstenite::WebSocketStream<Stream>, HttpError> {
        let mut url = self
            .base
            .join(path)
            .map_err(|e| HttpError::WebSocket(e.to_string()))?;
        let scheme = if self.tls.is_some() { "wss" } else { "ws" };
        url.set_scheme(scheme)
            .map_err(|_| HttpError::WebSocket("cannot make a WebSocket URL".into()))?;
        let mut request =
            tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
                url.as_str(),
            )
            .map_err(|e| HttpError::WebSocket(e.to_string()))?;
        if let Some(key) = &self.key {
            // A tenant's stream counts against the tenant, not its address.
            let value = HeaderValue::from_str(&format!("Bearer {key}"))
                .map_err(|_| HttpError::BadUrl("the API key is not a valid header value".into()))?;
            request
                .headers_mut()
                .insert(hyper::header::AUTHORIZATION, value);
        }
        let stream = self.connect().await?;
        let (ws, _) = tokio::time::timeout(
            CONNECT_TIMEOUT,
            tokio_tungstenite::client_async(request, stream),
        )
        .await
        .map_err(|_| HttpError::WebSocket("no answer within 10 s".into()))?
        .map_err(|e| match e {
            // An HTTP answer instead of an upgrade: the API's own refusal.
            tokio_tungstenite::tungstenite::Error::Http(resp) => {
                let (parts, body) = resp.into_parts();
                HttpError::Refused(
                    Answer {
                        status: parts.status.as_u16(),
                        headers: parts.headers,
                        body: Bytes::from(body.unwrap_or_default()),
                    }
                    .sentence(),
                )
            }
            other => HttpError::WebSocket(other.to_string()),
        })?;
        Ok(ws)
    }

    fn host_header(&self) -> String {
        let host = self.base.host_str().unwrap_or_default();
        match self.base.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        }
    }
}

/// TLS with the system's root certificates, on ring (the one crypto
/// provider in the tree).
fn tls_config() -> tokio_rustls::rustls::ClientConfig {
    let mut roots = tokio_rustls::rustls::RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(cert);
    }
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    tokio_rustls::rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, body: &str, retry: Option<&str>) -> Answer {
        let mut headers = HeaderMap::new();
        if let Some(r) = retry {
            headers.insert("retry-after", r.parse().unwrap());
        }
        Answer {
            status,
            headers,
            body: bytes::Bytes::copy_from_slice(body.as_bytes()),
        }
    }

    #[test]
    fn refusals_read_as_sentences() {
        let limited = answer(
            429,
            r#"{"error":{"code":"rate_limited","message":"rate limited by the client limit; retry in 3 s"}}"#,
            Some("3"),
        );
        assert_eq!(
            limited.sentence(),
            "Too many requests: the server is rate-limiting you. Try again in 3 seconds."
        );
        let full = answer(
            429,
            r#"{"error":{"code":"queue_full","message":"x"}}"#,
            Some("5"),
        );
        assert!(full
            .sentence()
            .starts_with("Your queue of runs is full; try again in 5 seconds"));
        let bad = answer(
            400,
            r#"{"error":{"code":"limit_exceeded","message":"timeout_ms is over your plan's 10000"}}"#,
            None,
        );
        assert_eq!(
            bad.sentence(),
            "The server refused the script: timeout_ms is over your plan's 10000."
        );
        assert!(answer(401, "{}", None).sentence().contains("--key"));
        assert_eq!(
            answer(502, "bad gateway", None).sentence(),
            "The server answered 502: bad gateway."
        );
    }

    #[test]
    fn server_urls_are_checked() {
        assert!(Server::new("http://127.0.0.1:8080", None).is_ok());
        assert!(Server::new("https://moat.example", None).is_ok());
        let err = Server::new("ftp://x", None).err().unwrap().to_string();
        assert!(err.contains("http:// or https://"), "{err}");
        assert!(Server::new("not a url", None).is_err());
    }

    #[test]
    fn ipv6_hosts_lose_their_brackets_to_connect() {
        let server = Server::new("http://[::1]:8080", None).unwrap();
        assert_eq!(server.host(), "::1");
        assert_eq!(server.host_header(), "[::1]:8080");
    }

    #[tokio::test]
    async fn an_unreachable_server_is_named_in_the_error() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let server = Server::new(&format!("http://127.0.0.1:{port}"), None).unwrap();
        let err = server.request("GET", "/healthz", None).await.unwrap_err();
        assert!(
            err.to_string()
                .starts_with(&format!("cannot reach moat at http://127.0.0.1:{port}")),
            "{err}"
        );
    }
}
