//! The rate-limit allow list (`MOAT_RATE_ALLOW`): tenants by name, anonymous
//! clients by address (`127.0.0.5`) or prefix (`127.0.0.0/8`,
//! `2001:db8::/32`), parsed at start (a bad entry stops the edge).
//!
//! The rate limit is taken by the presented key's hash *before* the key is
//! looked up, so a flood of made-up keys costs no queries; a tenant's name is
//! only known after the lookup. So the allow-listed names are resolved the
//! other way round: at start and every [`REFRESH`] the edge reads those
//! tenants' live keys' hashes from the database ([`refresh`]), and the
//! limiter matches a presented key's hash against them before any lookup.
//! A key created since the last refresh is limited like anyone's until the
//! next one; a key revoked since is still 401 at the lookup, so it gains
//! nothing. (Checking the list after the lookup instead would mean taking
//! the tokens first and giving them back, or looking up unlimited keys.)
//!
//! This module does not decide limits; [`crate::rate_limit`] does.

use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::rate_limit::RateLimits;

/// How often the allow-listed tenants' keys are read again.
pub const REFRESH: Duration = Duration::from_secs(30);

/// An address prefix: the leading `len` bits of `addr`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Net {
    addr: IpAddr,
    len: u8,
}

impl Net {
    /// Parses `ADDR` (one address) or `ADDR/LEN`; bits past `LEN` must be
    /// zero, so a typo cannot widen the entry silently.
    pub fn parse(s: &str) -> Result<Self, String> {
        let (addr, len) = match s.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (s, None),
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| format!("{s:?} is not an address"))?;
        let addr = addr.to_canonical();
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let len = match len {
            None => max,
            Some(l) => l
                .parse::<u8>()
                .ok()
                .filter(|l| *l <= max)
                .ok_or_else(|| format!("{s:?}: the prefix length must be in 0..={max}"))?,
        };
        let net = Self { addr, len };
        if net.masked(addr) != addr {
            return Err(format!(
                "{s:?} has bits set past /{len}; write {}/{len}",
                net.masked(addr)
            ));
        }
        Ok(net)
    }

    /// Whether `ip` is inside. IPv4-mapped IPv6 addresses count as IPv4.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        ip.is_ipv4() == self.addr.is_ipv4() && self.masked(ip) == self.addr
    }

    fn masked(&self, ip: IpAddr) -> IpAddr {
        match ip {
            IpAddr::V4(v4) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.len)).unwrap_or(0);
                IpAddr::V4((u32::from(v4) & mask).into())
            }
            IpAddr::V6(v6) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.len))
                    .unwrap_or(0);
                IpAddr::V6((u128::from(v6) & mask).into())
            }
        }
    }
}

/// Who skips every rate limit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowList {
    nets: Vec<Net>,
    tenants: Vec<String>,
}

impl AllowList {
    /// Parses the entries: an address or prefix if it has the shape of one
    /// (digits and dots, or a colon), else a tenant name. Empty entries are
    /// skipped.
    pub fn parse<S: AsRef<str>>(entries: impl IntoIterator<Item = S>) -> Result<Self, String> {
        let mut list = Self::default();
        for entry in entries {
            let entry = entry.as_ref().trim();
            if entry.is_empty() {
                continue;
            }
            let looks_like_addr = entry.contains(':')
                || entry.contains('/')
                || entry.bytes().all(|b| b.is_ascii_digit() || b == b'.');
            if looks_like_addr {
                list.nets.push(Net::parse(entry)?);
            } else if moat_wire::valid_token(entry) {
                list.tenants.push(entry.to_owned());
            } else {
                return Err(format!(
                    "{entry:?} is neither an address, a prefix (ADDR/LEN) nor a tenant name"
                ));
            }
        }
        Ok(list)
    }

    /// Whether the address is allow-listed.
    pub fn allows_addr(&self, ip: IpAddr) -> bool {
        self.nets.iter().any(|n| n.contains(ip))
    }

    /// The allow-listed tenants' names.
    pub fn tenants(&self) -> &[String] {
        &self.tenants
    }
}

/// Reads the allow-listed tenants' live keys and hands their hashes to the
/// limiter; returns how many there are.
pub async fn refresh(
    db: &sea_orm::DatabaseConnection,
    limits: &RateLimits,
) -> Result<usize, moat_db::DbError> {
    let mut hashes = HashSet::new();
    for tenant in limits.policy().allow.tenants() {
        let keys = moat_db::read::list_api_keys(db, Some(tenant)).await?;
        hashes.extend(keys.into_iter().filter(|k| !k.revoked).map(|k| k.key_hash));
    }
    let n = hashes.len();
    limits.set_allowed_keys(hashes);
    Ok(n)
}

/// Refreshes every [`REFRESH`] until `shutdown`; a failed refresh keeps the
/// keys already known.
pub async fn keep_fresh(
    db: sea_orm::DatabaseConnection,
    limits: Arc<RateLimits>,
    shutdown: CancellationToken,
) {
    if limits.policy().allow.tenants().is_empty() {
        return;
    }
    let mut tick = tokio::time::interval(REFRESH);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        if let Err(e) = refresh(&db, &limits).await {
            tracing::warn!(error = %e, "reading the allow-listed tenants' keys");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn entries_are_tenants_addresses_or_prefixes() {
        let list =
            AllowList::parse(["acme", " 127.0.0.5", "10.0.0.0/8", "2001:db8::/32", ""]).unwrap();
        assert_eq!(list.tenants(), ["acme".to_owned()]);
        assert!(list.allows_addr(ip("127.0.0.5")));
        assert!(!list.allows_addr(ip("127.0.0.6")));
        assert!(list.allows_addr(ip("10.200.3.4")));
        assert!(list.allows_addr(ip("::ffff:10.1.1.1")));
        assert!(list.allows_addr(ip("2001:db8:ffff::1")));
        assert!(!list.allows_addr(ip("2001:db9::1")));
        assert!(!list.allows_addr(ip("11.0.0.1")));
        assert!(AllowList::parse(["0.0.0.0/0"])
            .unwrap()
            .allows_addr(ip("8.8.8.8")));
        assert!(!AllowList::parse(["0.0.0.0/0"])
            .unwrap()
            .allows_addr(ip("::1")));
    }

    #[test]
    fn bad_entries_say_what_is_wrong() {
        for (entry, says) in [
            ("10.0.0.1/8", "write 10.0.0.0/8"),
            ("10.0.0.0/33", "0..=32"),
            ("2001:db8::/129", "0..=128"),
            ("10.0.0", "not an address"),
            ("300.1.1.1", "not an address"),
            ("acme corp", "neither"),
            ("a.b", "neither"),
        ] {
            let e = AllowList::parse([entry]).unwrap_err();
            assert!(e.contains(says), "{entry}: {e}");
        }
    }
}
