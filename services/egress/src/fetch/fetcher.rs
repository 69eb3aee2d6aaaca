//! [`Fetcher`]: one request in, one response (or a typed error) out, every
//! hop under the policy, the whole under the request's timeout.
//!
//! Holds no state between requests beyond its configuration: no pool, no
//! cookie jar, no TLS session cache. What this module does not do: the
//! NATS front or quota bookkeeping; those call [`Fetcher::fetch`].

use std::sync::Arc;
use std::time::Duration;

use hyper::ext::ReasonPhrase;
use hyper::header::{HeaderMap, HeaderValue};
use hyper::{Method, Version};
use tokio_rustls::rustls::crypto::{ring, CryptoProvider, SecureRandom};
use tokio_rustls::rustls::pki_types::CertificateDer;
use tokio_rustls::rustls::{self, ClientConfig};

use super::body;
use super::connect;
use super::decode::{self, Decoder};
use super::error::FetchError;
use super::exchange::{self, Exchange, Outgoing};
use super::headers;
use super::method;
use super::redirect;
use super::request::{Limits, Redirect, Request};
use super::resolve::Resolver;
use super::response::Response;
use super::tls;
use crate::host_rate::{HostRate, HostRateLimit};
use crate::policy::{self, Policy, Target};

/// What a [`Fetcher`] is built from.
#[derive(Debug, Clone)]
pub struct FetcherConfig {
    /// The operator's policy, used by [`Fetcher::fetch`].
    pub policy: Policy,
    /// How names are resolved.
    pub resolver: Resolver,
    /// Roots trusted besides the system's (`MOAT_EGRESS_CA_FILE`, read with
    /// [`load_ca_file`](super::load_ca_file)).
    pub extra_roots: Vec<CertificateDer<'static>>,
    /// The `User-Agent` sent when the script sets none.
    pub user_agent: String,
    /// How long one TCP connection attempt (one address) may take.
    pub connect_timeout: Duration,
    /// The fleet's limit on requests to one host; `None` for no limit.
    pub host_rate: Option<HostRateLimit>,
}

/// Why a [`Fetcher`] could not be built from its configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// One of `extra_roots` is not a usable CA certificate.
    #[error("extra root certificate {index} is not valid: {source}")]
    Root {
        /// Its position in `extra_roots`.
        index: usize,
        /// rustls' objection.
        source: rustls::Error,
    },
    /// rustls refused the TLS settings.
    #[error("the TLS settings are not usable: {0}")]
    Tls(rustls::Error),
    /// The user agent cannot be a header value.
    #[error("the user agent {0:?} is not a valid header value")]
    UserAgent(String),
}

/// Makes requests on behalf of scripts.
#[derive(Debug)]
pub struct Fetcher {
    policy: Policy,
    resolver: Resolver,
    tls: Arc<ClientConfig>,
    user_agent: HeaderValue,
    connect_timeout: Duration,
    random: &'static dyn SecureRandom,
    host_rate: Option<Arc<HostRate>>,
}

impl Fetcher {
    /// Builds a fetcher: loads the system roots and adds the extra ones.
    pub fn new(config: FetcherConfig) -> Result<Fetcher, ConfigError> {
        let provider: Arc<CryptoProvider> = Arc::new(ring::default_provider());
        let random = provider.secure_random;
        let user_agent = HeaderValue::from_str(&config.user_agent)
            .map_err(|_| ConfigError::UserAgent(config.user_agent.clone()))?;
        Ok(Fetcher {
            tls: tls::client_config(provider, &config.extra_roots)?,
            policy: config.policy,
            resolver: config.resolver,
            user_agent,
            connect_timeout: config.connect_timeout,
            random,
            host_rate: config.host_rate.map(|limit| Arc::new(HostRate::new(limit))),
        })
    }

    /// The operator's policy this fetcher was built with.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The per-host limiter, whose fleet size the service keeps current.
    pub fn host_rate(&self) -> Option<&Arc<HostRate>> {
        self.host_rate.as_ref()
    }

    /// Fetches under the operator's policy.
    pub async fn fetch(&self, request: Request, limits: &Limits) -> Result<Response, FetchError> {
        self.fetch_under(&self.policy, request, limits).await
    }

    /// Fetches under `policy`: the operator's narrowed for one run's plan
    /// and tenant (`Policy::narrow`).
    pub async fn fetch_under(
        &self,
        policy: &Policy,
        request: Request,
        limits: &Limits,
    ) -> Result<Response, FetchError> {
        let after = request.timeout;
        // One deadline over everything (DNS, connect, TLS, every redirect
        // hop, the body): however slowly a server drips, a fetch ends by
        // it, and dropping the future closes the connection.
        tokio::time::timeout(after, self.run(policy, request, limits))
            .await
            .unwrap_or(Err(FetchError::Timeout { after }))
    }

    /// The fetch itself, hop by hop.
    async fn run(
        &self,
        policy: &Policy,
        request: Request,
        limits: &Limits,
    ) -> Result<Response, FetchError> {
        let mut method = method::parse(&request.method)?;
        let mut headers = headers::from_script(&request.headers)?;
        let mut body = request.body;
        if !body.is_empty() && (method == Method::GET || method == Method::HEAD) {
            return Err(FetchError::InvalidRequest(format!(
                "a {method} request cannot have a body"
            )));
        }
        let mut target = policy::target(&request.url)?;
        let mut redirects = 0;
        loop {
            // Every hop is one request to its host, and is charged there.
            if let Some(rate) = &self.host_rate {
                rate.admit(&target.host.to_string(), std::time::Instant::now())?;
            }
            let hop = self.hop(policy, &target, &method, &headers, &body).await?;
            let status = hop.response.status();
            if !redirect::is_redirect(status) || request.redirect == Redirect::Manual {
                return finish(hop, &target, redirects > 0, limits).await;
            }
            let location = redirect::location(hop.response.headers());
            if request.redirect == Redirect::Error {
                return Err(FetchError::Redirected {
                    status: status.as_u16(),
                    location,
                });
            }
            // A redirect without a Location is an ordinary response.
            let Some(location) = location else {
                return finish(hop, &target, redirects > 0, limits).await;
            };
            if redirects >= limits.max_redirects {
                return Err(FetchError::TooManyRedirects {
                    max: limits.max_redirects,
                });
            }
            redirects += 1;
            // The next URL is a new target: parsed and checked again from
            // the start (scheme, port, lists, DNS, every address) by `hop`.
            let next = Target::from_url(redirect::next_url(&target.url, &location)?)?;
            redirect::rewrite(
                status,
                &mut method,
                &mut body,
                &mut headers,
                &target.url,
                &next.url,
            );
            target = next;
        }
    }

    /// One hop: a checked connection, TLS for https, the request sent, the
    /// response head back.
    async fn hop(
        &self,
        policy: &Policy,
        target: &Target,
        method: &Method,
        headers: &HeaderMap,
        body: &bytes::Bytes,
    ) -> Result<Exchange, FetchError> {
        let (tcp, remote) = connect::open(
            policy,
            &self.resolver,
            self.random,
            target,
            self.connect_timeout,
        )
        .await?;
        let out = Outgoing {
            method,
            url: &target.url,
            headers,
            user_agent: &self.user_agent,
            body,
        };
        let host = target.host.to_string();
        if target.url.scheme() == "https" {
            let stream = tls::handshake(&self.tls, &target.host, tcp).await?;
            let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2".as_slice());
            exchange::send(stream, h2, remote, &out, &host).await
        } else {
            exchange::send(tcp, false, remote, &out, &host).await
        }
    }
}

/// Reads the final response's body under the cap and builds the response.
async fn finish(
    hop: Exchange,
    target: &Target,
    redirected: bool,
    limits: &Limits,
) -> Result<Response, FetchError> {
    let Exchange {
        response,
        connection,
        remote,
    } = hop;
    let (parts, incoming) = response.into_parts();
    let max = limits.max_response_bytes;
    let head = headers::size(&parts.headers);
    if head > max {
        return Err(FetchError::ResponseTooLarge { max });
    }
    let codings = decode::codings(&parts.headers);
    let decoder = Decoder::new(codings.as_deref().unwrap_or_default(), max - head);
    let body = body::read(incoming, decoder, max, &target.host.to_string()).await?;
    drop(connection);
    let status_text = match parts.extensions.get::<ReasonPhrase>() {
        Some(reason) => headers::latin1(reason.as_bytes()),
        None if parts.version == Version::HTTP_2 => String::new(),
        None => parts.status.canonical_reason().unwrap_or("").to_string(),
    };
    let mut url = target.url.clone();
    url.set_fragment(None);
    Ok(Response {
        status: parts.status.as_u16(),
        status_text,
        headers: headers::to_pairs(&parts.headers, codings.is_some() && body.is_some()),
        url: url.into(),
        redirected,
        body: body.unwrap_or_default(),
        remote,
    })
}
