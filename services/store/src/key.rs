//! Object keys: how a saved file's key is built ([`file_key`]), and the one
//! check every key passes before a store touches anything ([`check_key`]).
//! A key carries a name a script chose, so this is where a hostile name that
//! slipped past the frame decoder is stopped from climbing out of the store
//! or aliasing another object. No I/O here.

use crate::StoreError;

/// S3's own limit on a key's length, in bytes; applied to both stores so a key
/// that works locally also works on S3.
pub const MAX_KEY_LEN: usize = 1024;

/// The key of a run's saved file (defined with the wire types).
pub use moat_wire::file_key;

/// Why a key was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The key is empty.
    #[error("empty")]
    Empty,
    /// The key is longer than [`MAX_KEY_LEN`] bytes.
    #[error("longer than {MAX_KEY_LEN} bytes")]
    TooLong,
    /// The key starts with `/`.
    #[error("absolute")]
    Absolute,
    /// The key holds a `\`, a path separator elsewhere.
    #[error("contains a backslash")]
    Backslash,
    /// The key holds a control character (NUL, newline, DEL, ...).
    #[error("contains a control character")]
    Control,
    /// The key has an empty segment (`a//b`, or a trailing `/`).
    #[error("has an empty segment")]
    EmptySegment,
    /// The key has a `.` or `..` segment.
    #[error("has a `.` or `..` segment")]
    DotSegment,
}

/// Checks a key: non-empty, at most [`MAX_KEY_LEN`] bytes, relative, `/` as
/// the only separator, no control characters, and every segment a plain
/// name (not empty, `.` or `..`).
pub fn check_key(key: &str) -> Result<(), KeyError> {
    if key.is_empty() {
        return Err(KeyError::Empty);
    }
    if key.len() > MAX_KEY_LEN {
        return Err(KeyError::TooLong);
    }
    if key.starts_with('/') {
        return Err(KeyError::Absolute);
    }
    if key.contains('\\') {
        return Err(KeyError::Backslash);
    }
    if key.chars().any(char::is_control) {
        return Err(KeyError::Control);
    }
    for segment in key.split('/') {
        match segment {
            "" => return Err(KeyError::EmptySegment),
            "." | ".." => return Err(KeyError::DotSegment),
            _ => {}
        }
    }
    Ok(())
}

/// [`check_key`] as a [`StoreError::BadKey`], for the stores' `put` and `get`.
pub(crate) fn checked_key(key: &str) -> Result<(), StoreError> {
    check_key(key).map_err(|reason| StoreError::BadKey {
        key: key.to_owned(),
        reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_keys_pass() {
        for key in [
            "run/1/out.png",
            "a",
            "0b6f8f0e-1c1a-4c53-a0b4-7c3b8f1d9a11/2/report.json",
            "run/1/name with spaces.txt",
            "run/1/.hidden",
            "run/1/a..b",
            "run/1/...",
            "run/1/ünïcødé.txt",
            "run/1/x.png.type",
            &"k".repeat(MAX_KEY_LEN),
        ] {
            assert_eq!(check_key(key), Ok(()), "{key:?}");
        }
    }

    #[test]
    fn tricky_keys_are_refused() {
        let long = "k".repeat(MAX_KEY_LEN + 1);
        for (key, reason) in [
            ("", KeyError::Empty),
            (long.as_str(), KeyError::TooLong),
            ("/etc/passwd", KeyError::Absolute),
            ("/", KeyError::Absolute),
            ("run\\1\\x", KeyError::Backslash),
            ("run/1/..\\x", KeyError::Backslash),
            ("run/1/a\nb", KeyError::Control),
            ("run/1/a\0b", KeyError::Control),
            ("run/1/a\u{7f}", KeyError::Control),
            ("run/1/a\u{85}", KeyError::Control),
            ("run//x", KeyError::EmptySegment),
            ("run/1/", KeyError::EmptySegment),
            ("..", KeyError::DotSegment),
            (".", KeyError::DotSegment),
            ("run/../x", KeyError::DotSegment),
            ("run/1/..", KeyError::DotSegment),
            ("./x", KeyError::DotSegment),
        ] {
            assert_eq!(check_key(key), Err(reason), "{key:?}");
        }
    }

    #[test]
    fn file_keys_are_run_attempt_name() {
        let key = file_key("0b6f8f0e1c1a4c53a0b47c3b8f1d9a11", 2, "report.json");
        assert_eq!(key, "0b6f8f0e1c1a4c53a0b47c3b8f1d9a11/2/report.json");
        assert_eq!(check_key(&key), Ok(()));
    }
}
