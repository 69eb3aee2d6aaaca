//! The object store: where the files that scripts save (screenshots, reports)
//! end up, behind one trait so the launcher (writing) and the edge (serving)
//! hold an `Arc<dyn ObjectStore>`
//! chosen at start-up from [`StoreConfig`]. Two implementations:
//!
//! - [`LocalStore`]: a directory on this machine (the default, `.run/files`);
//! - [`S3Store`]: a bucket through `aws-sdk-s3`, with the standard AWS
//!   credential chain (environment, profile files, web identity, ECS, IMDS).
//!
//! Keys look like `<run-id>/<attempt>/<file name>` ([`file_key`]). Both
//! implementations check every key with [`check_key`] before touching
//! anything, so a hostile file name that slipped past the frame decoder still
//! cannot climb out of the store or alias another object.
//!
//! What it does not do: decide content types (the launcher sniffs them, see
//! the launcher's `sniff`), cap sizes (the frame decoder does), serve files
//! (the edge does), or delete them (expiry is the bucket's lifecycle rule, or
//! the operator's).
//!
//! - [`StoreConfig`], [`StoreArgs`]: which store, and its flags (`config.rs`);
//! - [`file_key`], [`check_key`]: building and checking keys (`key.rs`);
//! - [`LocalStore`] (`local.rs`) and [`S3Store`] (`s3.rs`);
//! - here: the [`ObjectStore`] trait, its errors, and [`open_store`].

mod config;
mod key;
mod local;
mod s3;

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use futures::future::BoxFuture;

pub use config::{StoreArgs, StoreConfig, StoreKind};
pub use key::{check_key, file_key, KeyError, MAX_KEY_LEN};
pub use local::LocalStore;
pub use s3::S3Store;

/// The longest content type kept. Real ones are a few dozen bytes.
pub const MAX_CONTENT_TYPE_LEN: usize = 255;

/// The type reported for an object stored without one (an S3 object written
/// by another tool, a local file copied in by hand).
pub const DEFAULT_CONTENT_TYPE: &str = "application/octet-stream";

/// One stored file, as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredObject {
    /// The bytes, exactly as put.
    pub data: Bytes,
    /// The content type given at put.
    pub content_type: String,
}

/// Where files go. Object-safe so the launcher can pick an implementation at
/// start-up; futures are boxed rather than `async fn` for the same reason.
pub trait ObjectStore: Send + Sync + fmt::Debug {
    /// Stores `data` under `key` with `content_type`, replacing any object
    /// already there. Readers see either the old object or the new one,
    /// never a part.
    fn put<'a>(
        &'a self,
        key: &'a str,
        data: Bytes,
        content_type: &'a str,
    ) -> BoxFuture<'a, Result<(), StoreError>>;

    /// The object under `key`, or `None` when there is none.
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<StoredObject>, StoreError>>;

    /// A short description for logs, such as `local dir .run/files` or
    /// `s3 http://127.0.0.1:9000 bucket files`. Holds no credentials.
    fn describe(&self) -> String;
}

/// What went wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The key was refused before anything was touched.
    #[error("bad object key {key:?}: {reason}")]
    BadKey {
        /// The key, as given.
        key: String,
        /// Why.
        reason: KeyError,
    },
    /// The content type is empty, too long, or not printable ASCII (it ends
    /// up in an HTTP header).
    #[error("bad content type {0:?}")]
    BadContentType(String),
    /// The store's configuration cannot work.
    #[error("invalid store configuration: {0}")]
    Config(String),
    /// The local directory failed.
    #[error("{op} {}: {source}", path.display())]
    Io {
        /// What was being done.
        op: &'static str,
        /// To which path.
        path: PathBuf,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// S3 refused or could not be reached.
    #[error("s3 {op} {key:?} in bucket {bucket}: {detail}")]
    S3 {
        /// The operation.
        op: &'static str,
        /// The bucket.
        bucket: String,
        /// The key, empty for bucket operations.
        key: String,
        /// The SDK's error with all its causes.
        detail: String,
    },
}

impl StoreError {
    /// Whether the request itself was at fault (a bad key or type): retrying
    /// it cannot help. Everything else is the store's side.
    pub fn is_bad_request(&self) -> bool {
        matches!(self, Self::BadKey { .. } | Self::BadContentType(_))
    }
}

/// Checks a content type: non-empty, at most [`MAX_CONTENT_TYPE_LEN`] bytes,
/// printable ASCII (it ends up in an HTTP header).
pub(crate) fn checked_content_type(content_type: &str) -> Result<(), StoreError> {
    let printable = content_type.bytes().all(|b| (b' '..=b'~').contains(&b));
    if content_type.trim().is_empty() || content_type.len() > MAX_CONTENT_TYPE_LEN || !printable {
        return Err(StoreError::BadContentType(content_type.to_owned()));
    }
    Ok(())
}

/// Opens the store `config` names. A local directory is created; an S3
/// bucket is created only with `create_bucket`, otherwise nothing is sent
/// until the first put (so the launcher needs no bucket-level permissions).
pub async fn open_store(config: &StoreConfig) -> Result<Arc<dyn ObjectStore>, StoreError> {
    match config {
        StoreConfig::Local { dir } => {
            let dir = dir.clone();
            let store = tokio::task::spawn_blocking(move || LocalStore::open(dir))
                .await
                .map_err(|e| StoreError::Config(format!("opening the local store: {e}")))??;
            Ok(Arc::new(store))
        }
        StoreConfig::S3 {
            endpoint,
            bucket,
            region,
            path_style,
            create_bucket,
        } => {
            let store = S3Store::connect(endpoint.as_deref(), bucket, region, *path_style).await?;
            if *create_bucket {
                store.create_bucket_if_missing().await?;
            }
            Ok(Arc::new(store))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types_must_be_printable() {
        assert!(checked_content_type("image/png").is_ok());
        assert!(checked_content_type("text/plain; charset=utf-8").is_ok());
        for bad in ["", "  ", "text/plain\r\nX-Evil: 1", "tëxt/plain"] {
            assert!(
                matches!(
                    checked_content_type(bad),
                    Err(StoreError::BadContentType(_))
                ),
                "{bad:?}"
            );
        }
        let long = format!("text/{}", "x".repeat(MAX_CONTENT_TYPE_LEN));
        assert!(checked_content_type(&long).is_err());
    }

    #[tokio::test]
    async fn open_store_opens_a_local_dir() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("deep/files");
        let store = open_store(&StoreConfig::Local { dir: root.clone() })
            .await
            .unwrap();
        assert_eq!(store.describe(), format!("local dir {}", root.display()));
        store
            .put("r/1/f", Bytes::from_static(b"f"), "text/plain")
            .await
            .unwrap();
        assert!(store.get("r/1/f").await.unwrap().is_some());
    }

    #[tokio::test]
    async fn a_local_dir_that_cannot_be_made_is_a_startup_error() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a-file");
        std::fs::write(&file, b"").unwrap();
        let err = open_store(&StoreConfig::Local { dir: file })
            .await
            .unwrap_err();
        assert!(
            matches!(err, StoreError::Io { op: "creating", .. }),
            "{err}"
        );
    }

    #[tokio::test]
    async fn bad_s3_settings_are_startup_errors() {
        let s3 = |endpoint: Option<&str>, bucket: &str, region: &str| StoreConfig::S3 {
            endpoint: endpoint.map(str::to_owned),
            bucket: bucket.to_owned(),
            region: region.to_owned(),
            path_style: true,
            create_bucket: false,
        };
        for config in [
            s3(None, "", "us-east-1"),
            s3(None, "b", ""),
            s3(Some("127.0.0.1:9000"), "b", "us-east-1"),
        ] {
            let err = open_store(&config).await.unwrap_err();
            assert!(matches!(err, StoreError::Config(_)), "{config:?}: {err}");
        }
    }
}
