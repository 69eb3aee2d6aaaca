//! Names that travel inside NATS subjects (run ids, tenant names, client
//! tokens), and the one rule that keeps them from changing a subject's meaning.

/// A tenant, run or client id usable as one subject token: 1 to 64 of
/// `[A-Za-z0-9_-]` (no `.`, `*`, `>` or whitespace, which would change the
/// subject's meaning).
pub fn valid_token(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_cannot_change_a_subject() {
        assert!(valid_token("tenant-1_a"));
        for bad in ["", "a.b", "*", ">", "a b", &"x".repeat(65)] {
            assert!(!valid_token(bad), "{bad:?}");
        }
    }
}
