//! Content sniffing: a file's type is what its bytes say, not what the script
//! claimed. The launcher stores files under the sniffed type, so a script
//! cannot label HTML as an image and have it served inline.

/// The media type the bytes support, from a short list moat serves.
pub fn sniff(data: &[u8]) -> &'static str {
    if data.starts_with(b"\x89PNG\r\n\x1a\n") {
        "image/png"
    } else if data.starts_with(&[0xFF, 0xD8, 0xFF]) {
        "image/jpeg"
    } else if data.starts_with(b"GIF87a") || data.starts_with(b"GIF89a") {
        "image/gif"
    } else if std::str::from_utf8(data).is_ok() {
        if serde_json::from_slice::<serde::de::IgnoredAny>(data).is_ok() {
            "application/json"
        } else {
            "text/plain"
        }
    } else {
        "application/octet-stream"
    }
}

/// The type to store: the declared one when the bytes agree with it, else the
/// sniffed one. Text types keep a declared charset only for valid UTF-8.
pub fn settle(declared: &str, data: &[u8]) -> String {
    let sniffed = sniff(data);
    let essence = declared
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let agrees = match sniffed {
        "text/plain" => matches!(
            essence.as_str(),
            "text/plain" | "text/csv" | "text/markdown"
        ),
        "application/json" => matches!(essence.as_str(), "application/json" | "text/plain"),
        other => essence == other,
    };
    if agrees {
        essence
    } else {
        sniffed.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_decide() {
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\nrest"), "image/png");
        assert_eq!(sniff(&[0xFF, 0xD8, 0xFF, 0xE0]), "image/jpeg");
        assert_eq!(sniff(b"{\"a\":1}"), "application/json");
        assert_eq!(sniff(b"hello"), "text/plain");
        assert_eq!(sniff(&[0, 159, 146, 150]), "application/octet-stream");
    }

    #[test]
    fn a_declared_type_must_match_the_bytes() {
        assert_eq!(settle("image/png", b"<html><script>"), "text/plain");
        assert_eq!(settle("text/html", b"<html>"), "text/plain");
        assert_eq!(settle("image/png; x=y", b"\x89PNG\r\n\x1a\n"), "image/png");
        assert_eq!(settle("text/csv; charset=utf-8", b"a,b\n1,2"), "text/csv");
        assert_eq!(settle("application/json", b"[1]"), "application/json");
    }
}
