//! One hop's TCP connection: the policy before DNS, one resolution, the
//! policy on every address it gave, then a connection to one of those
//! addresses and no other.
//!
//! This is where a destination is let through, so every hop of every
//! fetch comes here, redirects included. What this module does not do:
//! TLS (`tls.rs`) or HTTP (`exchange.rs`).

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpStream;
use tokio_rustls::rustls::crypto::SecureRandom;

use super::error::FetchError;
use super::resolve::Resolver;
use crate::policy::{Host, Policy, Target};

/// A TCP connection to an address the policy passed for `target`, and that
/// address.
pub(crate) async fn open(
    policy: &Policy,
    resolver: &Resolver,
    random: &dyn SecureRandom,
    target: &Target,
    connect_timeout: Duration,
) -> Result<(TcpStream, SocketAddr), FetchError> {
    policy.check_target(target)?;
    let addrs = match &target.host {
        Host::Ip(ip) => vec![SocketAddr::new(*ip, target.port)],
        Host::Domain(domain) => resolver.resolve(domain, target.port, random).await?,
    };
    // Every address is checked before any is tried: an answer that mixes
    // allowed and refused addresses is a rebinding attempt, and is refused
    // whole rather than trimmed to the allowed part.
    for addr in &addrs {
        policy.check_addr(&target.host, *addr)?;
    }
    // Only these checked addresses are connected to; the name is never
    // handed to anything that could resolve it again.
    connect(&addrs, connect_timeout).await
}

/// Tries each address in order, each for at most `timeout`.
async fn connect(
    addrs: &[SocketAddr],
    timeout: Duration,
) -> Result<(TcpStream, SocketAddr), FetchError> {
    let mut last = None;
    for &addr in addrs {
        let kind = match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => {
                // Small writes (the request head) go out at once.
                let _ = stream.set_nodelay(true);
                return Ok((stream, addr));
            }
            Ok(Err(error)) => error.kind(),
            Err(_) => io::ErrorKind::TimedOut,
        };
        tracing::debug!(%addr, ?kind, "egress connect failed");
        last = Some(FetchError::Connect { addr, kind });
    }
    Err(last.expect("a resolution always gives at least one address"))
}
