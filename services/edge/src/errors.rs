//! API errors: one enum, one mapping to HTTP status, one JSON shape
//! (`{"error":{"code","message"}}`) for every refusal, rate limits included.
//! Blame is explicit: `client` errors are the caller's to fix, `server`
//! errors are ours. A server error says one fixed sentence to the client; its
//! cause goes to the log where it happened ([`ApiError::unavailable`]), never
//! into the answer.

use warp::http::{header, HeaderValue, StatusCode};
use warp::reply::Response;

use crate::rate_limit::Headers;

/// Everything the API can refuse with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request is malformed or breaks a rule; `code` is stable for clients.
    #[error("{message}")]
    BadRequest {
        /// Machine-readable code, e.g. `invalid_json`, `code_too_large`.
        code: &'static str,
        /// The sentence.
        message: String,
    },
    /// The body is over the size cap.
    #[error("the request body is over {0} bytes")]
    PayloadTooLarge(u64),
    /// The body did not arrive within the body timeout.
    #[error("the request body was not sent in time")]
    BodyTimeout,
    /// Not found, or not yours (never 403: existence is not disclosed).
    #[error("no such run")]
    NotFound,
    /// An `Authorization: Bearer` key that is unknown or revoked.
    #[error("the API key is not valid")]
    Unauthorized,
    /// A rate limit refused the request.
    #[error("rate limited by the {scope} limit; retry in {retry_after_secs} s")]
    RateLimited {
        /// Which limit.
        scope: &'static str,
        /// The bucket's headers.
        headers: Headers,
        /// Seconds to wait.
        retry_after_secs: u64,
    },
    /// The tenant's queue is full.
    #[error("your queue is full; retry when some of your runs have finished")]
    QueueFull,
    /// The client holds as many event streams open as it may.
    #[error("too many event streams open at once; close one first")]
    TooManySessions,
    /// A dependency (NATS, the database, the object store) failed; the
    /// cause was logged where it happened.
    #[error("the service is temporarily unavailable; retry shortly")]
    Unavailable,
    /// `/` on an edge without the playground's bundle (a fixed sentence too).
    #[error("the web playground is not built: run `just web` (or `just up`)")]
    PlaygroundNotBuilt,
}

impl ApiError {
    /// The HTTP status for this error.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::RateLimited { .. } | ApiError::QueueFull | ApiError::TooManySessions => {
                StatusCode::TOO_MANY_REQUESTS
            }
            ApiError::Unavailable | ApiError::PlaygroundNotBuilt => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest { code, .. } => code,
            ApiError::PayloadTooLarge(_) => "payload_too_large",
            ApiError::BodyTimeout => "body_timeout",
            ApiError::NotFound => "not_found",
            ApiError::Unauthorized => "invalid_key",
            ApiError::RateLimited { .. } => "rate_limited",
            ApiError::QueueFull => "queue_full",
            ApiError::TooManySessions => "too_many_sessions",
            ApiError::Unavailable | ApiError::PlaygroundNotBuilt => "unavailable",
        }
    }

    /// Shorthand for a 400.
    pub fn bad(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::BadRequest {
            code,
            message: message.into(),
        }
    }

    /// A 503 for a dependency that failed in `op`: the cause is logged here,
    /// with the operation as a field, and the client gets the fixed sentence.
    pub fn unavailable(op: &'static str, cause: impl std::fmt::Display) -> Self {
        tracing::warn!(op, error = %cause, "a dependency failed; answering 503");
        ApiError::Unavailable
    }

    /// The JSON response, with `Retry-After` and `RateLimit-*` where they apply.
    pub fn response(&self) -> Response {
        let body = serde_json::json!({"error": {"code": self.code(), "message": self.to_string()}});
        let mut resp =
            warp::reply::with_status(warp::reply::json(&body), self.status()).into_response();
        match self {
            ApiError::RateLimited {
                headers: h,
                retry_after_secs,
                ..
            } => {
                rate_limit_headers(&mut resp, h);
                resp.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
            }
            ApiError::QueueFull | ApiError::TooManySessions | ApiError::Unavailable => {
                resp.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(5u64));
            }
            // The rest of the body may still be on its way: this connection
            // is done (hyper stops reading it and closes after the answer).
            ApiError::PayloadTooLarge(_) | ApiError::BodyTimeout => {
                resp.headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            _ => {}
        }
        resp
    }
}

use warp::Reply as _;

/// Adds `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset`.
pub fn rate_limit_headers(resp: &mut Response, h: &Headers) {
    let headers = resp.headers_mut();
    headers.insert("ratelimit-limit", HeaderValue::from(h.limit as u64));
    headers.insert("ratelimit-remaining", HeaderValue::from(h.remaining as u64));
    headers.insert("ratelimit-reset", HeaderValue::from(h.reset_secs));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_json_with_the_right_status_and_headers() {
        let e = ApiError::RateLimited {
            scope: "client",
            headers: Headers {
                limit: 2,
                remaining: 0,
                reset_secs: 1,
            },
            retry_after_secs: 1,
        };
        let resp = e.response();
        assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(resp.headers()["retry-after"], "1");
        assert_eq!(resp.headers()["ratelimit-limit"], "2");
        assert_eq!(resp.headers()["ratelimit-remaining"], "0");
        assert_eq!(ApiError::QueueFull.response().headers()["retry-after"], "5");
        assert_eq!(ApiError::NotFound.status(), StatusCode::NOT_FOUND);
        assert_eq!(ApiError::bad("invalid_json", "x").code(), "invalid_json");
        assert_eq!(
            ApiError::PayloadTooLarge(9).response().headers()["connection"],
            "close"
        );
        assert_eq!(ApiError::BodyTimeout.status(), StatusCode::REQUEST_TIMEOUT);
    }

    #[test]
    fn a_failed_dependency_says_a_fixed_sentence() {
        let e = ApiError::unavailable("get_run", "connection refused at 10.1.2.3:5432");
        let resp = e.response();
        assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(resp.headers()["retry-after"], "5");
        assert_eq!(
            e.to_string(),
            "the service is temporarily unavailable; retry shortly"
        );
    }
}
