//! The harness: servers on 127.0.0.1 port 0 (HTTP, HTTPS with a test CA,
//! raw TCP for hostile ones), a test DNS responder, and fetchers under a
//! policy that allows only 127.0.0.1. Every server is a task aborted when
//! its handle drops.

use std::collections::HashMap;
use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use moat_egress::fetch::{
    FetchError, Fetcher, FetcherConfig, Limits, Redirect, Request, Resolver, Response,
};
use moat_egress::policy::Policy;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::rustls::{self, ServerConfig};
use tokio_rustls::TlsAcceptor;

/// The longest any one fetch may take in a test before it counts as hung.
const HUNG: Duration = Duration::from_secs(20);

/// A response from a test handler.
pub type Reply = hyper::Response<Full<Bytes>>;

/// A request as a test server saw it, body read.
#[derive(Debug, Clone)]
pub struct Seen {
    /// The method.
    pub method: String,
    /// The path and query.
    pub path: String,
    /// The HTTP version spoken.
    pub version: hyper::Version,
    /// The request headers.
    pub headers: hyper::HeaderMap,
    /// The request body.
    pub body: Bytes,
    /// The SNI the client sent, for HTTPS.
    pub sni: Option<String>,
    /// The client's address: a new port is a new connection.
    pub peer: SocketAddr,
}

/// A handler for test servers.
pub type Handler = Arc<dyn Fn(Seen) -> Reply + Send + Sync>;

/// A server task on loopback; dropped, it stops.
pub struct Server {
    /// Where it listens, on 127.0.0.1.
    pub addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Server {
    /// The port, for URLs.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `http://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port())
    }

    /// An HTTP/1.1 server.
    pub async fn http(handler: Handler) -> Server {
        Server::raw(move |tcp| {
            let peer = tcp.peer_addr().unwrap();
            serve(TokioIo::new(tcp), false, handler.clone(), None, peer)
        })
        .await
    }

    /// An HTTPS server with `ca`'s leaf certificate offering `alpn`.
    pub async fn https(handler: Handler, ca: &TestCa, alpn: &[&[u8]]) -> Server {
        let acceptor = TlsAcceptor::from(ca.server_config(alpn));
        Server::raw(move |tcp| {
            let acceptor = acceptor.clone();
            let handler = handler.clone();
            async move {
                let peer = tcp.peer_addr().unwrap();
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let (_, conn) = tls.get_ref();
                let sni = conn.server_name().map(str::to_string);
                let h2 = conn.alpn_protocol() == Some(b"h2".as_slice());
                serve(TokioIo::new(tls), h2, handler, sni, peer).await;
            }
        })
        .await
    }

    /// A TCP server running `each` on every connection.
    pub async fn raw<F, Fut>(each: F) -> Server
    where
        F: Fn(TcpStream) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            while let Ok((tcp, _)) = listener.accept().await {
                connections.spawn(each(tcp));
            }
        });
        Server { addr, task }
    }
}

/// Serves HTTP/1.1 or HTTP/2 on one connection.
async fn serve<I>(io: TokioIo<I>, h2: bool, handler: Handler, sni: Option<String>, peer: SocketAddr)
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
{
    let service = service_fn(move |request: hyper::Request<Incoming>| {
        let handler = handler.clone();
        let sni = sni.clone();
        async move {
            let (parts, body) = request.into_parts();
            let body = body.collect().await?.to_bytes();
            let path = parts
                .uri
                .path_and_query()
                .map_or("/".to_string(), |p| p.to_string());
            Ok::<_, hyper::Error>(handler(Seen {
                method: parts.method.to_string(),
                path,
                version: parts.version,
                headers: parts.headers,
                body,
                sni,
                peer,
            }))
        }
    });
    let _ = if h2 {
        hyper::server::conn::http2::Builder::new(TokioExecutor::new())
            .serve_connection(io, service)
            .await
    } else {
        hyper::server::conn::http1::Builder::new()
            .serve_connection(io, service)
            .await
    };
}

/// A handler from a closure.
pub fn handler(f: impl Fn(Seen) -> Reply + Send + Sync + 'static) -> Handler {
    Arc::new(f)
}

/// A reply with a status, headers and body.
pub fn reply(status: u16, headers: &[(&str, &str)], body: impl Into<Bytes>) -> Reply {
    let mut response = hyper::Response::new(Full::new(body.into()));
    *response.status_mut() = hyper::StatusCode::from_u16(status).unwrap();
    for (name, value) in headers {
        response.headers_mut().append(
            hyper::header::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            hyper::header::HeaderValue::from_bytes(value.as_bytes()).unwrap(),
        );
    }
    response
}

/// The echo: the request as JSON.
pub fn echo(seen: Seen) -> Reply {
    let headers: Vec<_> = seen
        .headers
        .iter()
        .map(|(n, v)| serde_json::json!([n.as_str(), String::from_utf8_lossy(v.as_bytes())]))
        .collect();
    let json = serde_json::json!({
        "method": seen.method,
        "path": seen.path,
        "version": format!("{:?}", seen.version),
        "headers": headers,
        "body": String::from_utf8_lossy(&seen.body),
        "sni": seen.sni,
        "peer": seen.peer.to_string(),
    });
    reply(
        200,
        &[("content-type", "application/json")],
        json.to_string(),
    )
}

/// What the echo saw, parsed from a response.
pub struct Echoed(serde_json::Value);

impl Echoed {
    /// Parses an echo response.
    pub fn of(response: &Response) -> Echoed {
        Echoed(serde_json::from_slice(&response.body).expect("an echo response"))
    }

    /// A string field.
    pub fn field(&self, name: &str) -> Option<String> {
        self.0[name].as_str().map(str::to_string)
    }

    /// The values of one request header, in order.
    pub fn header_all(&self, name: &str) -> Vec<String> {
        self.0["headers"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|pair| pair[0] == name)
            .map(|pair| pair[1].as_str().unwrap().to_string())
            .collect()
    }

    /// The first value of one request header.
    pub fn header(&self, name: &str) -> Option<String> {
        self.header_all(name).into_iter().next()
    }
}

/// The header of a response, by lowercase name.
pub fn header<'a>(response: &'a Response, name: &str) -> Option<&'a str> {
    response
        .headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// Only 127.0.0.1 is exempt from the built-in block; 127.0.0.2 and ::1
/// stay refused as loopback.
pub fn policy() -> Policy {
    Policy {
        allow_nets: vec!["127.0.0.1/32".parse().unwrap()],
        ..Policy::default()
    }
}

/// A fetcher on the system resolver trusting only the system roots.
pub fn fetcher() -> Fetcher {
    fetcher_with(Resolver::System, Vec::new())
}

/// A fetcher with a resolver and extra roots.
pub fn fetcher_with(resolver: Resolver, extra_roots: Vec<CertificateDer<'static>>) -> Fetcher {
    Fetcher::new(config_with(resolver, extra_roots)).unwrap()
}

/// The test fetcher's configuration: no per-host limit.
pub fn config_with(resolver: Resolver, extra_roots: Vec<CertificateDer<'static>>) -> FetcherConfig {
    FetcherConfig {
        policy: policy(),
        resolver,
        extra_roots,
        user_agent: "moat-test/1".to_string(),
        connect_timeout: Duration::from_secs(2),
        host_rate: None,
    }
}

/// A GET with a 10 s timeout.
pub fn get(url: &str) -> Request {
    Request {
        method: "GET".to_string(),
        url: url.to_string(),
        headers: Vec::new(),
        body: Bytes::new(),
        redirect: Redirect::Follow,
        timeout: Duration::from_secs(10),
    }
}

/// A request with a method and body.
pub fn with_body(method: &str, url: &str, body: &'static str) -> Request {
    Request {
        method: method.to_string(),
        body: Bytes::from_static(body.as_bytes()),
        ..get(url)
    }
}

/// Fetches under the default limits, failing the test if it hangs.
pub async fn fetch(fetcher: &Fetcher, request: Request) -> Result<Response, FetchError> {
    fetch_limited(fetcher, request, &Limits::default()).await
}

/// Fetches under `limits`, failing the test if it hangs.
pub async fn fetch_limited(
    fetcher: &Fetcher,
    request: Request,
    limits: &Limits,
) -> Result<Response, FetchError> {
    tokio::time::timeout(HUNG, fetcher.fetch(request, limits))
        .await
        .expect("the fetch hung")
}

/// Asserts an error's code and message.
#[track_caller]
pub fn assert_error(result: Result<Response, FetchError>, code: &str, message: &str) {
    match result {
        Ok(response) => panic!("expected {code}, got a {} response", response.status),
        Err(error) => {
            assert_eq!(error.code(), code, "{error}");
            assert_eq!(error.to_string(), message);
        }
    }
}

/// A test certificate authority and a leaf it signed for localhost,
/// api.test and 127.0.0.1.
pub struct TestCa {
    /// The CA certificate, for `extra_roots`.
    pub ca: CertificateDer<'static>,
    /// The same, PEM-encoded, for a CA file.
    pub ca_pem: String,
    leaf: CertificateDer<'static>,
    leaf_key: Vec<u8>,
}

impl TestCa {
    /// A fresh CA and leaf.
    pub fn new() -> TestCa {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "moat egress test CA");
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
        ];
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        let names = ["localhost", "api.test", "127.0.0.1"].map(str::to_string);
        let mut leaf = CertificateParams::new(names.to_vec()).unwrap();
        leaf.distinguished_name
            .push(DnType::CommonName, "localhost");
        let leaf_key = KeyPair::generate().unwrap();
        let leaf = leaf.signed_by(&leaf_key, &issuer).unwrap();
        TestCa {
            ca: issuer.der().clone(),
            ca_pem: issuer.pem(),
            leaf: leaf.der().clone(),
            leaf_key: leaf_key.serialize_der(),
        }
    }

    /// A server configuration presenting the leaf, offering `alpn`.
    fn server_config(&self, alpn: &[&[u8]]) -> Arc<ServerConfig> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.leaf_key.clone()));
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![self.leaf.clone()], key)
            .unwrap();
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Arc::new(config)
    }
}

pub use moat_testkit::dns::Answer;

/// The shared test responder, with a fetcher resolving through it.
pub struct Dns {
    /// Kept for its drop, which stops it.
    _server: moat_testkit::dns::Dns,
    /// Where it listens, on 127.0.0.1.
    pub addr: SocketAddr,
}

impl Dns {
    /// The responder used across the tests.
    pub async fn standard() -> Dns {
        let one = Ipv4Addr::new(127, 0, 0, 1);
        let two = Ipv4Addr::new(127, 0, 0, 2);
        Dns::start(HashMap::from([
            ("api.test", Answer::A(vec![one])),
            ("other.test", Answer::A(vec![one])),
            ("rebind.test", Answer::A(vec![two])),
            ("mixed.test", Answer::A(vec![one, two])),
            ("servfail.test", Answer::ServFail),
            ("truncated.test", Answer::Truncated(vec![one])),
            ("spoof.test", Answer::Spoofed(vec![one], vec![two])),
            ("silent.test", Answer::Silent),
        ]))
        .await
    }

    /// A responder with these names.
    pub async fn start(names: HashMap<&'static str, Answer>) -> Dns {
        let server = moat_testkit::dns::Dns::start(names);
        Dns {
            addr: server.addr,
            _server: server,
        }
    }

    /// A fetcher resolving through this server, trusting `roots` too.
    pub fn fetcher(&self, roots: Vec<CertificateDer<'static>>) -> Fetcher {
        fetcher_with(Resolver::Server(self.addr), roots)
    }
}

/// Brotli without compression: WBITS 16, then uncompressed meta-blocks,
/// then an empty last one (RFC 7932 §9.1-9.2); brotli-decompressor cannot
/// encode, and this needs no encoder.
pub fn brotli_stored(data: &[u8]) -> Vec<u8> {
    let mut bits = Bits::default();
    bits.put(0, 1); // WBITS = 16
    for block in data.chunks(32 * 1024) {
        bits.put(0, 1); // ISLAST
        bits.put(0, 2); // MNIBBLES = 4
        bits.put(block.len() as u64 - 1, 16); // MLEN - 1
        bits.put(1, 1); // ISUNCOMPRESSED
        bits.align();
        bits.out.extend_from_slice(block);
    }
    bits.put(1, 1); // ISLAST
    bits.put(1, 1); // ISLASTEMPTY
    bits.align();
    bits.out
}

/// A little-endian bit writer, for [`brotli_stored`].
#[derive(Default)]
struct Bits {
    out: Vec<u8>,
    acc: u64,
    used: u32,
}

impl Bits {
    fn put(&mut self, value: u64, width: u32) {
        self.acc |= value << self.used;
        self.used += width;
        while self.used >= 8 {
            self.out.push(self.acc as u8);
            self.acc >>= 8;
            self.used -= 8;
        }
    }

    fn align(&mut self) {
        if self.used > 0 {
            self.out.push(self.acc as u8);
            self.acc = 0;
            self.used = 0;
        }
    }
}
