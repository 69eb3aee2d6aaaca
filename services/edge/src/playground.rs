//! The web playground: the bundled page (`web/dist`, built by `just web`)
//! served at `/`. It is a client of the public API like any other, so the
//! edge only hands out its files: read once at start into memory, served by
//! exact name (no paths, so nothing outside the directory can be named),
//! under a strict Content-Security-Policy.
//!
//! Pages are not rate-limited: they are constant bytes in memory, cheaper
//! to send than a bucket is to check; everything they do afterwards goes
//! through the API's limits.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use warp::http::{header, HeaderValue};
use warp::reply::Response;
use warp::Filter;

use crate::errors::ApiError;

/// The page may load only itself, talk only to its own origin (`'self'`
/// covers its WebSocket too), and show
/// images from there (or ones it made); nothing inline but CodeMirror's
/// generated styles.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self' 'unsafe-inline'; img-src 'self' blob: data:; connect-src 'self'; \
     frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// Largest file taken into memory; a bundle is far smaller.
const MAX_FILE_BYTES: u64 = 8 * 1024 * 1024;

/// The playground's files, by name, with their media types.
#[derive(Debug, Clone, Default)]
pub struct Playground {
    files: Arc<HashMap<String, (&'static str, Bytes)>>,
}

impl Playground {
    /// Reads the directory's files (not its subdirectories). A missing
    /// directory gives an empty playground, which says how to build it.
    pub fn load(dir: &Path) -> std::io::Result<Self> {
        let mut files = HashMap::new();
        let entries = match std::fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(e) => return Err(e),
        };
        for entry in entries {
            let entry = entry?;
            let meta = entry.metadata()?;
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            let Some(kind) = media_type(&name) else {
                continue;
            };
            if meta.is_file() && meta.len() <= MAX_FILE_BYTES {
                files.insert(name, (kind, Bytes::from(std::fs::read(entry.path())?)));
            }
        }
        Ok(Self {
            files: Arc::new(files),
        })
    }

    /// Whether there is a page to serve.
    pub fn is_built(&self) -> bool {
        self.files.contains_key("index.html")
    }

    /// The file's answer: its bytes with security headers, or the API's 404.
    fn answer(&self, name: &str) -> Result<Response, ApiError> {
        let name = if name.is_empty() { "index.html" } else { name };
        let Some((kind, body)) = self.files.get(name) else {
            return Err(if name == "index.html" {
                ApiError::PlaygroundNotBuilt
            } else {
                ApiError::NotFound
            });
        };
        let mut resp = Response::new(body.clone().into());
        let h = resp.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        );
        h.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        h.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        );
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        Ok(resp)
    }

    /// `GET /` and `GET /{file}`.
    pub fn routes(self) -> impl Filter<Extract = (Response,), Error = warp::Rejection> + Clone {
        let index = warp::path::end().map(String::new);
        let file = warp::path::param::<String>().and(warp::path::end());
        warp::get()
            .and(index.or(file).unify())
            .and_then(move |name: String| {
                let answer = self.answer(&name);
                async move {
                    answer.map_err(|e| {
                        if e.code() == "not_found" {
                            warp::reject::not_found()
                        } else {
                            warp::reject::custom(e)
                        }
                    })
                }
            })
    }
}

/// Media types of the files a bundle holds; anything else is not served.
fn media_type(name: &str) -> Option<&'static str> {
    let ext = name.rsplit_once('.')?.1;
    Some(match ext {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "map" | "json" => "application/json",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use warp::http::StatusCode;

    #[tokio::test]
    async fn serves_the_bundle_by_name_with_its_policy() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("index.html"), "<h1>moat</h1>").unwrap();
        std::fs::write(dir.path().join("playground.js"), "x()").unwrap();
        std::fs::write(dir.path().join("secret.key"), "no").unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        let routes = Playground::load(dir.path()).unwrap().routes();
        let page = warp::test::request().path("/").reply(&routes).await;
        assert_eq!(page.status(), 200);
        assert_eq!(page.body(), "<h1>moat</h1>");
        assert_eq!(page.headers()["content-type"], "text/html; charset=utf-8");
        assert!(page.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("script-src 'self'"));
        let js = warp::test::request()
            .path("/playground.js")
            .reply(&routes)
            .await;
        assert_eq!(
            js.headers()["content-type"],
            "text/javascript; charset=utf-8"
        );
        for path in [
            "/secret.key",
            "/sub",
            "/../Cargo.toml",
            "/%2e%2e%2fCargo.toml",
            "/x/playground.js",
        ] {
            let resp = warp::test::request().path(path).reply(&routes).await;
            assert_ne!(resp.status(), 200, "{path}");
        }
    }

    #[tokio::test]
    async fn an_unbuilt_playground_says_how_to_build_it() {
        let dir = tempfile::tempdir().unwrap();
        let playground = Playground::load(&dir.path().join("missing")).unwrap();
        assert!(!playground.is_built());
        let err = playground.answer("").unwrap_err();
        assert!(err.to_string().contains("just web"), "{err}");
        assert_eq!(err.status(), StatusCode::SERVICE_UNAVAILABLE);
    }
}
