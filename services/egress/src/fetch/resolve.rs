//! [`Resolver`]: where domain names become addresses, once per hop.
//!
//! What this module does not do: judge the addresses; `connect.rs` checks
//! every one before any is used.

use std::net::SocketAddr;

use tokio_rustls::rustls::crypto::SecureRandom;

use super::dns::{self, LookupError};
use super::error::FetchError;

/// How the egress service resolves names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Resolver {
    /// The system's resolver (`getaddrinfo`, through tokio).
    #[default]
    System,
    /// A DNS server asked directly over UDP (`MOAT_EGRESS_DNS`).
    Server(SocketAddr),
}

impl Resolver {
    /// The addresses of `domain` with `port`, in the resolver's order,
    /// without duplicates.
    pub(crate) async fn resolve(
        &self,
        domain: &str,
        port: u16,
        random: &dyn SecureRandom,
    ) -> Result<Vec<SocketAddr>, FetchError> {
        let not_found = || FetchError::NotFound {
            host: domain.to_string(),
        };
        let found: Vec<SocketAddr> = match self {
            Resolver::System => tokio::net::lookup_host((domain, port))
                .await
                .map_err(|_| not_found())?
                .collect(),
            Resolver::Server(server) => dns::lookup(*server, domain, random)
                .await
                .map_err(|error| match error {
                    LookupError::NotFound => not_found(),
                    LookupError::Failed(detail) => FetchError::Dns {
                        host: domain.to_string(),
                        detail,
                    },
                })?
                .into_iter()
                .map(|ip| SocketAddr::new(ip, port))
                .collect(),
        };
        let mut addrs = Vec::with_capacity(found.len());
        for addr in found {
            if !addrs.contains(&addr) {
                addrs.push(addr);
            }
        }
        if addrs.is_empty() {
            return Err(not_found());
        }
        Ok(addrs)
    }
}
