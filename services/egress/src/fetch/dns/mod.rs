//! A minimal DNS-over-UDP client for `Resolver::Server` (`MOAT_EGRESS_DNS`):
//! A and AAAA queries for one name to one server, answers checked against
//! the query, failures told apart from a name that does not exist.
//!
//! What this module does not do: cache, search domains, retry over TCP, or
//! judge the addresses (the policy does, in `connect.rs`).

mod message;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::time::{timeout_at, Instant};
use tokio_rustls::rustls::crypto::SecureRandom;

use message::{parse, query, Reply, TYPE_A, TYPE_AAAA};

/// How long one attempt waits for its answers.
const ATTEMPT: Duration = Duration::from_secs(2);
/// Attempts before giving up; unanswered queries are sent again each time.
const ATTEMPTS: usize = 2;
/// Big enough for any UDP answer to a query without EDNS (512 bytes), and
/// for servers that send more anyway.
const BUFFER: usize = 4096;

/// Why a lookup found no address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LookupError {
    /// NXDOMAIN, no address of either type, or a name DNS cannot carry.
    NotFound,
    /// The server did not answer usefully; why, for the user.
    Failed(String),
}

/// The A then AAAA addresses of `name`, asked of `server`.
pub(crate) async fn lookup(
    server: SocketAddr,
    name: &str,
    random: &dyn SecureRandom,
) -> Result<Vec<IpAddr>, LookupError> {
    let failed = |e: std::io::Error| LookupError::Failed(format!("the DNS server: {e}"));
    let local: SocketAddr = match server {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let socket = UdpSocket::bind(local).await.map_err(failed)?;
    // A connected socket: the kernel drops datagrams from any other
    // address, so only the server (or a spoofer who also guesses the
    // random port and id) can answer.
    socket.connect(server).await.map_err(failed)?;
    let mut queries = Vec::with_capacity(2);
    for qtype in [TYPE_A, TYPE_AAAA] {
        let id = random_id(random, &queries)?;
        let packet = query(id, name, qtype).ok_or(LookupError::NotFound)?;
        queries.push(Query {
            id,
            qtype,
            packet,
            reply: None,
        });
    }
    let mut buf = vec![0; BUFFER];
    'attempts: for _ in 0..ATTEMPTS {
        for q in queries.iter().filter(|q| q.reply.is_none()) {
            socket.send(&q.packet).await.map_err(failed)?;
        }
        let deadline = Instant::now() + ATTEMPT;
        while queries.iter().any(|q| q.reply.is_none()) {
            let Ok(received) = timeout_at(deadline, socket.recv(&mut buf)).await else {
                continue 'attempts;
            };
            let packet = &buf[..received.map_err(failed)?];
            for q in queries.iter_mut().filter(|q| q.reply.is_none()) {
                // A packet that answers no pending query is ignored, not
                // trusted: it may be a late reply or a spoofing attempt.
                if let Some(reply) = parse(packet, q.id, name, q.qtype) {
                    q.reply = Some(reply);
                    break;
                }
            }
        }
        break;
    }
    combine(queries.into_iter().map(|q| q.reply))
}

/// One query in flight.
struct Query {
    id: u16,
    qtype: u16,
    packet: Vec<u8>,
    reply: Option<Reply>,
}

/// An id from the cryptographic generator, unlike the other queries' ids.
fn random_id(random: &dyn SecureRandom, others: &[Query]) -> Result<u16, LookupError> {
    loop {
        let mut bytes = [0; 2];
        random
            .fill(&mut bytes)
            .map_err(|_| LookupError::Failed("no random bytes for the query id".into()))?;
        let id = u16::from_be_bytes(bytes);
        if others.iter().all(|q| q.id != id) {
            return Ok(id);
        }
    }
}

/// Every address either query found; otherwise NXDOMAIN or NODATA is
/// [`LookupError::NotFound`], and anything else the failure seen.
fn combine(replies: impl Iterator<Item = Option<Reply>>) -> Result<Vec<IpAddr>, LookupError> {
    let mut addrs = Vec::new();
    let mut missing = false;
    let mut failure = None;
    for reply in replies {
        match reply {
            Some(Reply::Addrs(found)) => addrs.extend(found),
            Some(Reply::NxDomain) => missing = true,
            Some(Reply::Failed(why)) => failure = Some(why.to_string()),
            None => failure = Some("the DNS server did not answer".to_string()),
        }
    }
    if !addrs.is_empty() {
        return Ok(addrs);
    }
    match failure {
        Some(why) if !missing => Err(LookupError::Failed(why)),
        _ => Err(LookupError::NotFound),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_combine_into_addresses_or_the_right_error() {
        let one: IpAddr = "127.0.0.1".parse().unwrap();
        let addrs = |list: &[IpAddr]| Some(Reply::Addrs(list.to_vec()));
        let fail = Some(Reply::Failed("the DNS server failed (SERVFAIL)"));
        assert_eq!(
            combine([addrs(&[one]), fail.clone()].into_iter()),
            Ok(vec![one])
        );
        assert_eq!(
            combine([addrs(&[]), addrs(&[])].into_iter()),
            Err(LookupError::NotFound)
        );
        assert_eq!(
            combine([Some(Reply::NxDomain), Some(Reply::NxDomain)].into_iter()),
            Err(LookupError::NotFound)
        );
        assert_eq!(
            combine([fail.clone(), None].into_iter()),
            Err(LookupError::Failed("the DNS server did not answer".into()))
        );
        assert!(matches!(
            combine([fail, addrs(&[])].into_iter()),
            Err(LookupError::Failed(_))
        ));
    }
}
