//! The request method: normalised as fetch does, and refused when it would
//! turn the connection into something other than one request.

use hyper::Method;

use super::error::FetchError;

/// The method to send for what the script wrote.
///
/// DELETE, GET, HEAD, OPTIONS, POST and PUT are uppercased, any case (the
/// fetch standard's normalisation); other methods are sent as written.
pub(crate) fn parse(name: &str) -> Result<Method, FetchError> {
    let upper = name.to_ascii_uppercase();
    let normalised = match upper.as_str() {
        "DELETE" | "GET" | "HEAD" | "OPTIONS" | "POST" | "PUT" => upper.as_str(),
        _ => name,
    };
    // CONNECT would make the connection a tunnel past the policy's view of
    // what is requested, and TRACE/TRACK echo the request back; fetch
    // forbids all three.
    if matches!(upper.as_str(), "CONNECT" | "TRACE" | "TRACK") {
        return Err(FetchError::InvalidRequest(format!(
            "the method {name} is not allowed"
        )));
    }
    Method::from_bytes(normalised.as_bytes())
        .map_err(|_| FetchError::InvalidRequest(format!("{name:?} is not a valid HTTP method")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_methods_are_uppercased_and_others_kept() {
        assert_eq!(parse("get").unwrap(), Method::GET);
        assert_eq!(parse("Post").unwrap(), Method::POST);
        assert_eq!(parse("patch").unwrap().as_str(), "patch");
        assert_eq!(parse("PROPFIND").unwrap().as_str(), "PROPFIND");
    }

    #[test]
    fn tunnels_echoes_and_garbage_are_refused() {
        for name in [
            "CONNECT", "connect", "TRACE", "track", "", "GET /x", "G\r\nET",
        ] {
            assert_eq!(
                parse(name).unwrap_err().code(),
                "ERR_INVALID_ARG_VALUE",
                "{name:?}"
            );
        }
    }
}
