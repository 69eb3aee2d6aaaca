//! Per-run tokens: proof that the caller submitted the run. A token is an
//! HMAC of the run id under the edge's secret, so any edge sharing the secret
//! can check it without storing anything, and nobody without the secret can
//! make one. Compared in constant time.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// Makes and checks run tokens.
#[derive(Clone)]
pub struct Tokens {
    key: Vec<u8>,
}

impl Tokens {
    /// Tokens under `secret` (at least 32 bytes of randomness in production).
    pub fn new(secret: &[u8]) -> Self {
        Self {
            key: secret.to_vec(),
        }
    }

    fn mac(&self, run: &str) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.key)
            .expect("HMAC takes keys of any length");
        mac.update(b"moat-run-token:");
        mac.update(run.as_bytes());
        mac
    }

    /// The token for `run`, as hex.
    pub fn issue(&self, run: &str) -> String {
        hex::encode(self.mac(run).finalize().into_bytes())
    }

    /// Whether `token` is the one for `run`.
    pub fn verify(&self, run: &str, token: &str) -> bool {
        match hex::decode(token) {
            Ok(bytes) => self.mac(run).verify_slice(&bytes).is_ok(),
            Err(_) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_belong_to_one_run_and_one_secret() {
        let t = Tokens::new(b"secret-a");
        let token = t.issue("run1");
        assert!(t.verify("run1", &token));
        assert!(!t.verify("run2", &token));
        assert!(!Tokens::new(b"secret-b").verify("run1", &token));
        assert!(!t.verify("run1", "not hex"));
        assert!(!t.verify("run1", ""));
    }
}
