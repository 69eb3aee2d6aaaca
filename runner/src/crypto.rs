//! The primitives behind the prelude's Web Crypto (`crypto.getRandomValues`,
//! `randomUUID`, `subtle.digest`, HMAC `sign`/`verify`): digests and MACs
//! from the RustCrypto crates, randomness from the OS. Engine-neutral: the
//! engine's host calls wrap these.

use hmac::{Hmac, KeyInit, Mac};

/// Largest `getRandomValues` request, in bytes (the standard's quota).
pub const MAX_RANDOM_BYTES: usize = 65_536;

/// A digest the standard names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hash {
    /// SHA-1 (still used by old APIs' signatures).
    Sha1,
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
}

impl Hash {
    /// The hash for a Web Crypto name (`SHA-256`, case-insensitive).
    pub fn named(name: &str) -> Option<Self> {
        match name.to_ascii_uppercase().as_str() {
            "SHA-1" => Some(Hash::Sha1),
            "SHA-256" => Some(Hash::Sha256),
            "SHA-384" => Some(Hash::Sha384),
            "SHA-512" => Some(Hash::Sha512),
            _ => None,
        }
    }
}

/// The digest of `data`.
pub fn digest(hash: Hash, data: &[u8]) -> Vec<u8> {
    use sha2::Digest;
    match hash {
        Hash::Sha1 => sha1::Sha1::digest(data).to_vec(),
        Hash::Sha256 => sha2::Sha256::digest(data).to_vec(),
        Hash::Sha384 => sha2::Sha384::digest(data).to_vec(),
        Hash::Sha512 => sha2::Sha512::digest(data).to_vec(),
    }
}

/// HMAC of `data` under `key`.
pub fn hmac(hash: Hash, key: &[u8], data: &[u8]) -> Vec<u8> {
    fn mac<M: Mac + KeyInit>(key: &[u8], data: &[u8]) -> Vec<u8> {
        // HMAC takes keys of any length.
        let mut m = <M as KeyInit>::new_from_slice(key).expect("HMAC accepts any key length");
        m.update(data);
        m.finalize().into_bytes().to_vec()
    }
    match hash {
        Hash::Sha1 => mac::<Hmac<sha1::Sha1>>(key, data),
        Hash::Sha256 => mac::<Hmac<sha2::Sha256>>(key, data),
        Hash::Sha384 => mac::<Hmac<sha2::Sha384>>(key, data),
        Hash::Sha512 => mac::<Hmac<sha2::Sha512>>(key, data),
    }
}

/// Whether `signature` is the HMAC of `data` under `key`, compared in
/// constant time.
pub fn hmac_verify(hash: Hash, key: &[u8], signature: &[u8], data: &[u8]) -> bool {
    let expected = hmac(hash, key, data);
    expected.len() == signature.len()
        && expected
            .iter()
            .zip(signature)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

/// `n` random bytes from the OS; `None` if it has none to give.
pub fn random(n: usize) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; n];
    getrandom::fill(&mut buf).ok()?;
    Some(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    #[test]
    fn digests_match_the_standard_vectors() {
        // FIPS 180 "abc" vectors.
        assert_eq!(
            hex(&digest(Hash::Sha1, b"abc")),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        assert_eq!(
            hex(&digest(Hash::Sha256, b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(hex(&digest(Hash::Sha384, b"abc")).starts_with("cb00753f45a35e8b"));
        assert!(hex(&digest(Hash::Sha512, b"abc")).starts_with("ddaf35a193617aba"));
        assert_eq!(Hash::named("sha-256"), Some(Hash::Sha256));
        assert_eq!(Hash::named("MD5"), None);
    }

    #[test]
    fn hmac_matches_rfc_4231_and_verifies_in_constant_time() {
        // RFC 4231, test case 2.
        let mac = hmac(Hash::Sha256, b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            hex(&mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert!(hmac_verify(
            Hash::Sha256,
            b"Jefe",
            &mac,
            b"what do ya want for nothing?"
        ));
        assert!(!hmac_verify(
            Hash::Sha256,
            b"Jefe",
            &mac,
            b"what do ya want for nothing!"
        ));
        assert!(!hmac_verify(
            Hash::Sha256,
            b"Jefe",
            &mac[..31],
            b"what do ya want for nothing?"
        ));
        // RFC 2202, HMAC-SHA-1 test case 2.
        assert_eq!(
            hex(&hmac(Hash::Sha1, b"Jefe", b"what do ya want for nothing?")),
            "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"
        );
    }

    #[test]
    fn random_bytes_differ() {
        let (a, b) = (random(32).unwrap(), random(32).unwrap());
        assert_ne!(a, b);
    }
}
