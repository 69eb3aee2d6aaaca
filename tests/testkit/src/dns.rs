//! A DNS responder on 127.0.0.1 for tests of name resolution (the egress
//! service's `MOAT_EGRESS_DNS`): fixed answers per name, names it does not
//! know NXDOMAIN, and the misbehaviours a resolver must survive. A thread
//! of its own, so sync and async tests share it; stopped on drop.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// What the responder answers for one name.
#[derive(Debug, Clone)]
pub enum Answer {
    /// These A records (AAAA: none).
    A(Vec<Ipv4Addr>),
    /// SERVFAIL.
    ServFail,
    /// The truncated bit, with the records.
    Truncated(Vec<Ipv4Addr>),
    /// First a reply with the wrong id giving the first list, then the
    /// real one giving the second.
    Spoofed(Vec<Ipv4Addr>, Vec<Ipv4Addr>),
    /// No reply at all.
    Silent,
}

/// A DNS responder on 127.0.0.1; names it does not know are NXDOMAIN.
pub struct Dns {
    /// Where it listens, on 127.0.0.1.
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Dns {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Dns {
    /// A responder with these names (lowercase, no trailing dot).
    pub fn start(names: HashMap<&'static str, Answer>) -> Dns {
        let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("binding a UDP port");
        let addr = socket.local_addr().expect("a bound address");
        // Woken this often to see whether it was dropped.
        socket
            .set_read_timeout(Some(Duration::from_millis(100)))
            .expect("a read timeout");
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut buf = [0u8; 512];
            while !stopped.load(Ordering::Relaxed) {
                let Ok((len, from)) = socket.recv_from(&mut buf) else {
                    continue;
                };
                for packet in answer(&buf[..len], &names) {
                    let _ = socket.send_to(&packet, from);
                }
            }
        });
        Dns {
            addr,
            stop,
            thread: Some(thread),
        }
    }
}

/// The replies to one query.
fn answer(query: &[u8], names: &HashMap<&'static str, Answer>) -> Vec<Vec<u8>> {
    let Some((name, end)) = question(query) else {
        return Vec::new();
    };
    let qtype = u16::from_be_bytes([query[end - 4], query[end - 3]]);
    let build = |id: [u8; 2], flags: u16, addrs: &[Ipv4Addr]| {
        let addrs = if qtype == 1 { addrs } else { &[] };
        let mut packet = Vec::from(&query[..end]);
        packet[..2].copy_from_slice(&id);
        packet[2..4].copy_from_slice(&(0x8180 | flags).to_be_bytes());
        packet[6..8].copy_from_slice(&(addrs.len() as u16).to_be_bytes());
        packet[8..12].fill(0);
        for addr in addrs {
            packet.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4]);
            packet.extend_from_slice(&addr.octets());
        }
        packet
    };
    let id = [query[0], query[1]];
    match names.get(name.to_ascii_lowercase().as_str()) {
        None => vec![build(id, 3, &[])],
        Some(Answer::A(addrs)) => vec![build(id, 0, addrs)],
        Some(Answer::ServFail) => vec![build(id, 2, &[])],
        Some(Answer::Truncated(addrs)) => vec![build(id, 0x0200, addrs)],
        Some(Answer::Spoofed(fake, real)) => {
            let wrong = [id[0] ^ 0x55, id[1] ^ 0xaa];
            vec![build(wrong, 0, fake), build(id, 0, real)]
        }
        Some(Answer::Silent) => Vec::new(),
    }
}

/// The name asked and where the question ends.
fn question(query: &[u8]) -> Option<(String, usize)> {
    let mut pos = 12;
    let mut labels = Vec::new();
    loop {
        let len = usize::from(*query.get(pos)?);
        if len == 0 {
            break;
        }
        labels.push(String::from_utf8_lossy(query.get(pos + 1..pos + 1 + len)?).to_string());
        pos += 1 + len;
    }
    let end = pos + 5;
    (query.len() >= end).then(|| (labels.join("."), end))
}
