//! DNS messages (RFC 1035) for the resolver client: the query for one name
//! and type, and the parse of a reply, checked against that query.
//!
//! Only what an A or AAAA lookup needs; no EDNS, no DNSSEC. What this
//! module does not do: any I/O (`dns/mod.rs`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The A record type.
pub(crate) const TYPE_A: u16 = 1;
/// The AAAA record type.
pub(crate) const TYPE_AAAA: u16 = 28;
/// The Internet class.
const CLASS_IN: u16 = 1;
/// Compression pointers followed in one name before it is malformed.
const MAX_JUMPS: usize = 32;
/// The longest name on the wire (RFC 1035 §2.3.4).
const MAX_NAME: usize = 255;

/// What a reply to our query says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Reply {
    /// The addresses of the queried type (possibly none: NODATA).
    Addrs(Vec<IpAddr>),
    /// The name does not exist.
    NxDomain,
    /// The server could not answer usefully; why, for the user.
    Failed(&'static str),
}

/// A query for `name` (ASCII, no trailing dot) of type `qtype`, recursion
/// desired; `None` if the name cannot be a DNS name.
pub(crate) fn query(id: u16, name: &str, qtype: u16) -> Option<Vec<u8>> {
    let mut packet = Vec::with_capacity(18 + name.len());
    packet.extend_from_slice(&id.to_be_bytes());
    packet.extend_from_slice(&[0x01, 0x00]); // RD
    packet.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]); // one question
    for label in name.split('.') {
        if label.is_empty() || label.len() > 63 || !label.is_ascii() {
            return None;
        }
        packet.push(label.len() as u8);
        packet.extend_from_slice(label.as_bytes());
    }
    packet.push(0);
    if packet.len() - 12 > MAX_NAME {
        return None;
    }
    packet.extend_from_slice(&qtype.to_be_bytes());
    packet.extend_from_slice(&CLASS_IN.to_be_bytes());
    Some(packet)
}

/// Reads a reply to the query (`id`, `name`, `qtype`), or `None` if the
/// packet is not a reply to it (another id, not a response, another
/// question), which the caller ignores rather than trusts.
pub(crate) fn parse(packet: &[u8], id: u16, name: &str, qtype: u16) -> Option<Reply> {
    let header = packet.get(..12)?;
    let flags = u16::from_be_bytes([header[2], header[3]]);
    let is_response = flags & 0x8000 != 0;
    let opcode = (flags >> 11) & 0xf;
    if u16::from_be_bytes([header[0], header[1]]) != id || !is_response || opcode != 0 {
        return None;
    }
    if u16::from_be_bytes([header[4], header[5]]) != 1 {
        return None;
    }
    let (asked, mut pos) = read_name(packet, 12)?;
    let question = packet.get(pos..pos + 4)?;
    if !asked.eq_ignore_ascii_case(name)
        || u16::from_be_bytes([question[0], question[1]]) != qtype
        || u16::from_be_bytes([question[2], question[3]]) != CLASS_IN
    {
        return None;
    }
    pos += 4;
    if flags & 0x0200 != 0 {
        // Over TCP a truncated answer would be retried; we do not speak DNS
        // over TCP, and a partial list of addresses is not one to trust.
        return Some(Reply::Failed("the DNS answer was truncated"));
    }
    match flags & 0xf {
        0 => {}
        2 => return Some(Reply::Failed("the DNS server failed (SERVFAIL)")),
        3 => return Some(Reply::NxDomain),
        5 => return Some(Reply::Failed("the DNS server refused the query")),
        _ => return Some(Reply::Failed("the DNS server returned an error")),
    }
    let answers = u16::from_be_bytes([header[6], header[7]]);
    Some(
        read_answers(packet, pos, answers, qtype)
            .unwrap_or(Reply::Failed("the DNS answer is malformed")),
    )
}

/// The addresses of type `qtype` among `count` answer records at `pos`.
fn read_answers(packet: &[u8], mut pos: usize, count: u16, qtype: u16) -> Option<Reply> {
    let mut addrs = Vec::new();
    for _ in 0..count {
        let (_, after) = read_name(packet, pos)?;
        let fixed = packet.get(after..after + 10)?;
        let rtype = u16::from_be_bytes([fixed[0], fixed[1]]);
        let class = u16::from_be_bytes([fixed[2], fixed[3]]);
        let len = usize::from(u16::from_be_bytes([fixed[8], fixed[9]]));
        let data = packet.get(after + 10..after + 10 + len)?;
        pos = after + 10 + len;
        // Other records (a CNAME chain) are skipped: every address taken is
        // checked by the policy whatever name it is filed under.
        if rtype != qtype || class != CLASS_IN {
            continue;
        }
        addrs.push(match (rtype, data.len()) {
            (TYPE_A, 4) => IpAddr::V4(Ipv4Addr::new(data[0], data[1], data[2], data[3])),
            (TYPE_AAAA, 16) => IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(data).ok()?)),
            _ => return None,
        });
    }
    Some(Reply::Addrs(addrs))
}

/// Reads a possibly compressed name at `pos`: the name, lowercase and
/// without the root dot, and where the record goes on after it.
fn read_name(packet: &[u8], mut pos: usize) -> Option<(String, usize)> {
    let mut name = String::new();
    let mut resume = None;
    let mut jumps = 0;
    loop {
        let len = usize::from(*packet.get(pos)?);
        match len >> 6 {
            0 if len == 0 => return Some((name, resume.unwrap_or(pos + 1))),
            0 => {
                let label = packet.get(pos + 1..pos + 1 + len)?;
                if label.contains(&b'.') || name.len() + len + 1 > MAX_NAME {
                    return None;
                }
                if !name.is_empty() {
                    name.push('.');
                }
                name.extend(label.iter().map(|b| char::from(b.to_ascii_lowercase())));
                pos += 1 + len;
            }
            3 => {
                jumps += 1;
                if jumps > MAX_JUMPS {
                    return None;
                }
                let low = usize::from(*packet.get(pos + 1)?);
                resume.get_or_insert(pos + 2);
                pos = (len & 0x3f) << 8 | low;
            }
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reply to `query(id, name, qtype)` with `flags` and `answers`
    /// (each: type, data), names compressed to point at the question.
    fn reply(id: u16, name: &str, qtype: u16, flags: u16, answers: &[(u16, &[u8])]) -> Vec<u8> {
        let mut packet = query(id, name, qtype).unwrap();
        packet[2..4].copy_from_slice(&(0x8000 | flags).to_be_bytes());
        packet[6..8].copy_from_slice(&(answers.len() as u16).to_be_bytes());
        for (rtype, data) in answers {
            packet.extend_from_slice(&[0xc0, 12]);
            packet.extend_from_slice(&rtype.to_be_bytes());
            packet.extend_from_slice(&[0, 1, 0, 0, 0, 60]);
            packet.extend_from_slice(&(data.len() as u16).to_be_bytes());
            packet.extend_from_slice(data);
        }
        packet
    }

    #[test]
    fn queries_encode_labels() {
        let q = query(0x1234, "api.test", TYPE_A).unwrap();
        assert_eq!(
            q,
            b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x03api\x04test\x00\x00\x01\x00\x01"
        );
        assert_eq!(query(1, "a..b", TYPE_A), None);
        assert_eq!(query(1, &"a".repeat(64), TYPE_A), None);
        let long = vec!["a".repeat(63); 5].join(".");
        assert_eq!(query(1, &long, TYPE_A), None);
    }

    #[test]
    fn answers_of_the_asked_type_are_read() {
        let cname = b"\x03cdn\x04test\x00";
        let packet = reply(
            7,
            "api.test",
            TYPE_A,
            0x0180,
            &[
                (5, cname),
                (TYPE_A, &[127, 0, 0, 1]),
                (TYPE_A, &[127, 0, 0, 2]),
            ],
        );
        assert_eq!(
            parse(&packet, 7, "API.test", TYPE_A),
            Some(Reply::Addrs(vec![
                "127.0.0.1".parse().unwrap(),
                "127.0.0.2".parse().unwrap()
            ]))
        );
        let v6 = [0u8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
        let packet = reply(8, "api.test", TYPE_AAAA, 0, &[(TYPE_AAAA, &v6)]);
        assert_eq!(
            parse(&packet, 8, "api.test", TYPE_AAAA),
            Some(Reply::Addrs(vec!["::1".parse().unwrap()]))
        );
    }

    #[test]
    fn replies_to_another_query_are_ignored() {
        let packet = reply(7, "api.test", TYPE_A, 0, &[(TYPE_A, &[1, 2, 3, 4])]);
        assert_eq!(parse(&packet, 8, "api.test", TYPE_A), None);
        assert_eq!(parse(&packet, 7, "other.test", TYPE_A), None);
        assert_eq!(parse(&packet, 7, "api.test", TYPE_AAAA), None);
        let question = query(7, "api.test", TYPE_A).unwrap();
        assert_eq!(parse(&question, 7, "api.test", TYPE_A), None);
        assert_eq!(parse(&packet[..11], 7, "api.test", TYPE_A), None);
    }

    #[test]
    fn error_codes_and_truncation_are_failures() {
        let rcode = |flags| parse(&reply(1, "a.test", TYPE_A, flags, &[]), 1, "a.test", TYPE_A);
        assert_eq!(rcode(3), Some(Reply::NxDomain));
        assert!(matches!(rcode(2), Some(Reply::Failed(m)) if m.contains("SERVFAIL")));
        assert!(matches!(rcode(5), Some(Reply::Failed(_))));
        assert!(matches!(rcode(0x0200), Some(Reply::Failed(m)) if m.contains("truncated")));
        assert_eq!(rcode(0), Some(Reply::Addrs(vec![])));
    }

    #[test]
    fn malformed_answers_fail_without_panicking() {
        let good = reply(1, "a.test", TYPE_A, 0, &[(TYPE_A, &[1, 2, 3, 4])]);
        for cut in 12..good.len() {
            let _ = parse(&good[..cut], 1, "a.test", TYPE_A);
        }
        let short = reply(1, "a.test", TYPE_A, 0, &[(TYPE_A, &[1, 2, 3])]);
        assert!(matches!(
            parse(&short, 1, "a.test", TYPE_A),
            Some(Reply::Failed(_))
        ));
        // An answer whose name points at itself.
        let mut looped = reply(1, "a.test", TYPE_A, 0, &[(TYPE_A, &[1, 2, 3, 4])]);
        let at = query(1, "a.test", TYPE_A).unwrap().len();
        looped[at..at + 2].copy_from_slice(&[0xc0, at as u8]);
        assert!(matches!(
            parse(&looped, 1, "a.test", TYPE_A),
            Some(Reply::Failed(_))
        ));
    }
}
