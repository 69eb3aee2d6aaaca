//! How a followed redirect changes the next request, by the fetch
//! standard's HTTP-redirect fetch: which statuses redirect, where to, and
//! what becomes of the method, the body and the credentials.
//!
//! What this module does not do: check the new URL; the fetcher sends it
//! through the full policy like the first.

use bytes::Bytes;
use hyper::header::{self, HeaderMap, HeaderName};
use hyper::{Method, StatusCode};
use url::Url;

use super::error::FetchError;

/// Headers that describe the request body, removed with it.
const BODY_HEADERS: [HeaderName; 4] = [
    header::CONTENT_ENCODING,
    header::CONTENT_LANGUAGE,
    header::CONTENT_LOCATION,
    header::CONTENT_TYPE,
];

/// Whether the status is one fetch treats as a redirect.
pub(crate) fn is_redirect(status: StatusCode) -> bool {
    matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308)
}

/// The `Location` of a redirect response as the server sent it, if any
/// (decoded as UTF-8, as browsers do).
pub(crate) fn location(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::LOCATION)
        .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
}

/// The next URL: the location resolved against the URL that answered.
pub(crate) fn next_url(current: &Url, location: &str) -> Result<Url, FetchError> {
    current.join(location).map_err(|error| {
        FetchError::Protocol(format!(
            "the redirect location {location:?} is not a URL: {error}"
        ))
    })
}

/// Rewrites the next hop's request for a redirect with `status` from
/// `from` to `to`.
pub(crate) fn rewrite(
    status: StatusCode,
    method: &mut Method,
    body: &mut Bytes,
    headers: &mut HeaderMap,
    from: &Url,
    to: &Url,
) {
    let to_get = match status.as_u16() {
        301 | 302 => *method == Method::POST,
        303 => *method != Method::GET && *method != Method::HEAD,
        _ => false,
    };
    if to_get {
        *method = Method::GET;
        *body = Bytes::new();
        for name in &BODY_HEADERS {
            headers.remove(name);
        }
    }
    // Credentials meant for one origin are not handed to another: the
    // fetch standard drops Authorization, and with no cookie jar a
    // script's Cookie header is a credential of the same kind. Once
    // dropped they stay dropped, even if a later hop comes back.
    if from.origin() != to.origin() {
        headers.remove(header::AUTHORIZATION);
        headers.remove(header::COOKIE);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    fn request() -> (Method, Bytes, HeaderMap) {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer t"));
        headers.insert(header::COOKIE, HeaderValue::from_static("a=b"));
        headers.insert("x-keep", HeaderValue::from_static("1"));
        (Method::POST, Bytes::from_static(b"body"), headers)
    }

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn post_becomes_get_on_301_302_303_and_stays_on_307_308() {
        let same = url("http://a.test/");
        for (status, changes) in [
            (301, true),
            (302, true),
            (303, true),
            (307, false),
            (308, false),
        ] {
            let (mut method, mut body, mut headers) = request();
            let status = StatusCode::from_u16(status).unwrap();
            rewrite(status, &mut method, &mut body, &mut headers, &same, &same);
            assert_eq!(method == Method::GET, changes, "{status}");
            assert_eq!(body.is_empty(), changes, "{status}");
            assert_eq!(
                !headers.contains_key(header::CONTENT_TYPE),
                changes,
                "{status}"
            );
            assert!(headers.contains_key(header::AUTHORIZATION));
            assert!(headers.contains_key("x-keep"));
        }
    }

    #[test]
    fn only_303_changes_other_methods_and_head_stays_head() {
        let same = url("http://a.test/");
        for (start, status, end) in [
            (Method::PUT, 302, Method::PUT),
            (Method::PUT, 303, Method::GET),
            (Method::DELETE, 303, Method::GET),
            (Method::HEAD, 303, Method::HEAD),
        ] {
            let (_, mut body, mut headers) = request();
            let mut method = start.clone();
            let status = StatusCode::from_u16(status).unwrap();
            rewrite(status, &mut method, &mut body, &mut headers, &same, &same);
            assert_eq!(method, end, "{start} {status}");
        }
    }

    #[test]
    fn credentials_are_dropped_when_the_origin_changes() {
        for (from, to, dropped) in [
            ("http://a.test/x", "http://a.test/y", false),
            ("http://a.test/", "http://a.test:80/", false),
            ("http://a.test/", "http://a.test:81/", true),
            ("http://a.test/", "https://a.test/", true),
            ("http://a.test/", "http://b.a.test/", true),
        ] {
            let (mut method, mut body, mut headers) = request();
            let status = StatusCode::TEMPORARY_REDIRECT;
            rewrite(
                status,
                &mut method,
                &mut body,
                &mut headers,
                &url(from),
                &url(to),
            );
            assert_eq!(
                !headers.contains_key(header::AUTHORIZATION),
                dropped,
                "{to}"
            );
            assert_eq!(!headers.contains_key(header::COOKIE), dropped, "{to}");
            assert!(headers.contains_key("x-keep"));
        }
    }

    #[test]
    fn locations_resolve_against_the_current_url() {
        let base = url("http://a.test/dir/page?q");
        assert_eq!(
            next_url(&base, "other").unwrap().as_str(),
            "http://a.test/dir/other"
        );
        assert_eq!(
            next_url(&base, "/root").unwrap().as_str(),
            "http://a.test/root"
        );
        assert_eq!(
            next_url(&base, "//b.test/").unwrap().as_str(),
            "http://b.test/"
        );
        assert_eq!(next_url(&base, "http://[::1").unwrap_err().code(), "EPROTO");
        assert!(is_redirect(StatusCode::FOUND));
        assert!(!is_redirect(StatusCode::NOT_MODIFIED));
        assert!(!is_redirect(StatusCode::MULTIPLE_CHOICES));
    }
}
