//! The object store: where the files that scripts save (screenshots, reports)
//! end up, behind one trait so the launcher (writing) and the edge (serving)
//! hold an `Arc<dyn ObjectStore>`
//! chosen at start-up from [`StoreConfig`]. Two implementations:
//!
//! - [`LocalStore`]: a directory on this machine (the default, `.run/files`);
//! - [`S3Store`]: a bucket through `aws-sdk-s3`, with the standard AWS
//!   credential chain (environment, profile files, web identity, ECS, IMDS).
//!
//! Keys look like `<run-id>/<attempt>/<file name>`. Both implementations check
//! every key with [`check_key`] before touching anything, so a hostile file
//! name that slipped past the frame decoder still cannot climb out of the
//! store or alias another object.
//!
//! What it does not do: decide content types (the launcher sniffs them, see
//! the launcher's `sniff`), cap sizes (the frame decoder does), serve files (the
//! edge does), or
//! delete them (expiry is the bucket's lifecycle rule, or the operator's).

use std::fmt;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{BehaviorVersion, Region, RequestChecksumCalculation};
use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::operation::get_object::GetObjectError;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{BucketLocationConstraint, CreateBucketConfiguration};
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
use bytes::Bytes;
use futures::future::BoxFuture;
use futures::FutureExt;

/// S3's own limit on a key's length, in bytes; applied to both stores so a key
/// that works locally also works on S3.
pub const MAX_KEY_LEN: usize = 1024;

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

/// Which store to open, and how. `config.rs` maps the launcher's flags onto it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreConfig {
    /// A directory on this machine.
    Local {
        /// The store's root; created if missing.
        dir: PathBuf,
    },
    /// An S3 bucket, or a bucket on an S3-compatible server.
    S3 {
        /// The endpoint URL (`http://` or `https://`); `None` for AWS's own
        /// endpoint for `region`.
        endpoint: Option<String>,
        /// The bucket.
        bucket: String,
        /// The region, for signing and for AWS's endpoint.
        region: String,
        /// Address the bucket in the path (`endpoint/bucket/key`) rather than
        /// the host name (`bucket.endpoint/key`); most S3-compatible servers
        /// need this.
        path_style: bool,
        /// Create the bucket at open if it does not exist. Tests set it; in
        /// production the bucket, its policy and lifecycle are the operator's.
        create_bucket: bool,
    },
}

/// Which kind of store `--store` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StoreKind {
    /// A local directory (`--files-dir`).
    Local,
    /// An S3 bucket (`--s3-*`), credentials from the standard AWS chain.
    S3,
}

/// The store's flags, shared by every service that opens the store (the
/// launcher writes, the edge serves); flatten into a service's config.
#[derive(Debug, Clone, clap::Args)]
pub struct StoreArgs {
    /// Where saved files go.
    #[arg(long, env = "MOAT_STORE", value_enum, default_value_t = StoreKind::Local)]
    pub store: StoreKind,
    /// Directory for files, with `--store local`.
    #[arg(long, env = "MOAT_FILES_DIR", default_value = ".run/files")]
    pub files_dir: PathBuf,
    /// S3 endpoint URL (empty: AWS's own), with `--store s3`.
    #[arg(long, env = "MOAT_S3_ENDPOINT")]
    pub s3_endpoint: Option<String>,
    /// S3 bucket, with `--store s3`.
    #[arg(long, env = "MOAT_S3_BUCKET")]
    pub s3_bucket: Option<String>,
    /// S3 region.
    #[arg(long, env = "MOAT_S3_REGION", default_value = "us-east-1")]
    pub s3_region: String,
    /// Address buckets by path (S3-compatible servers) rather than by host.
    #[arg(long, env = "MOAT_S3_PATH_STYLE", default_value_t = false)]
    pub s3_path_style: bool,
}

impl StoreArgs {
    /// The store these flags describe, or why they cannot work.
    pub fn config(&self) -> Result<StoreConfig, String> {
        Ok(match self.store {
            StoreKind::Local => StoreConfig::Local {
                dir: self.files_dir.clone(),
            },
            StoreKind::S3 => StoreConfig::S3 {
                endpoint: self.s3_endpoint.clone(),
                bucket: match self.s3_bucket.as_deref() {
                    Some(b) if !b.is_empty() => b.to_owned(),
                    _ => return Err("--store s3 needs --s3-bucket".into()),
                },
                region: self.s3_region.clone(),
                path_style: self.s3_path_style,
                create_bucket: false,
            },
        })
    }
}

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

fn checked_key(key: &str) -> Result<(), StoreError> {
    check_key(key).map_err(|reason| StoreError::BadKey {
        key: key.to_owned(),
        reason,
    })
}

fn checked_content_type(content_type: &str) -> Result<(), StoreError> {
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

/// A directory of files. Layout under the root:
///
/// - `objects/<key>`: the bytes, as put (an operator can open them directly);
/// - `types/<key>`: the content type;
/// - `tmp/`: files being written, renamed into place when complete.
///
/// Types live in their own tree rather than in a sidecar beside the object
/// (`<key>.type`) because a sidecar shares the objects' namespace: a script
/// saving `x.png.type` would set the type `x.png` is served with.
#[derive(Debug, Clone)]
pub struct LocalStore {
    root: PathBuf,
}

impl LocalStore {
    /// Opens (creating if needed) the store rooted at `root`. Blocking.
    ///
    /// Leftovers in `tmp/` are not removed: several launchers on a node may
    /// share the directory, and one's temporary file may be another's write
    /// in progress.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self, StoreError> {
        let store = Self { root: root.into() };
        for dir in [store.objects(), store.types(), store.tmp()] {
            std::fs::create_dir_all(&dir).map_err(|source| StoreError::Io {
                op: "creating",
                path: dir,
                source,
            })?;
        }
        Ok(store)
    }

    /// The store's root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn objects(&self) -> PathBuf {
        self.root.join("objects")
    }

    fn types(&self) -> PathBuf {
        self.root.join("types")
    }

    fn tmp(&self) -> PathBuf {
        self.root.join("tmp")
    }

    fn put_blocking(&self, key: &str, data: &[u8], content_type: &str) -> Result<(), StoreError> {
        // The type goes first and the object's rename commits: a reader that
        // finds the object finds its type too. (A crash between the two
        // leaves a type with no object, which no reader sees.)
        self.write_atomic(&self.types().join(key), content_type.as_bytes())?;
        self.write_atomic(&self.objects().join(key), data)
    }

    /// Writes `data` to a new file under `tmp/`, flushes it to disk, and
    /// renames it to `target`: the rename is atomic, so `target` holds the
    /// old bytes or the new ones, never a part.
    fn write_atomic(&self, target: &Path, data: &[u8]) -> Result<(), StoreError> {
        let io_err = |op, path: &Path| {
            let path = path.to_owned();
            move |source| StoreError::Io { op, path, source }
        };
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(io_err("creating", parent))?;
        }
        let temp = self.tmp().join(uuid::Uuid::new_v4().to_string());
        let written = (|| {
            let mut file = std::fs::File::create_new(&temp)?;
            file.write_all(data)?;
            file.sync_all()
        })();
        let renamed = written
            .map_err(io_err("writing", &temp))
            .and_then(|()| std::fs::rename(&temp, target).map_err(io_err("renaming into", target)));
        if renamed.is_err() {
            let _ = std::fs::remove_file(&temp);
        }
        renamed
    }

    fn get_blocking(&self, key: &str) -> Result<Option<StoredObject>, StoreError> {
        let path = self.objects().join(key);
        let data = match std::fs::read(&path) {
            Ok(data) => data,
            // A key naming a directory (`a/b` when `a/b/c` exists) or passing
            // through a file (`a/b/c` when `a/b` is an object) is simply absent,
            // as it would be on S3.
            Err(e) if is_absent(&e) => return Ok(None),
            Err(source) => {
                return Err(StoreError::Io {
                    op: "reading",
                    path,
                    source,
                })
            }
        };
        let type_path = self.types().join(key);
        let content_type = match std::fs::read_to_string(&type_path) {
            Ok(t) => t,
            Err(e) if is_absent(&e) => DEFAULT_CONTENT_TYPE.to_owned(),
            Err(source) => {
                return Err(StoreError::Io {
                    op: "reading",
                    path: type_path,
                    source,
                })
            }
        };
        Ok(Some(StoredObject {
            data: data.into(),
            content_type,
        }))
    }
}

fn is_absent(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::IsADirectory | io::ErrorKind::NotADirectory
    )
}

/// Runs blocking file work off the async threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(work).await.unwrap_or_else(|e| {
        Err(StoreError::Io {
            op: "running",
            path: PathBuf::new(),
            source: io::Error::other(e),
        })
    })
}

impl ObjectStore for LocalStore {
    fn put<'a>(
        &'a self,
        key: &'a str,
        data: Bytes,
        content_type: &'a str,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        async move {
            checked_key(key)?;
            checked_content_type(content_type)?;
            let (store, key, content_type) =
                (self.clone(), key.to_owned(), content_type.to_owned());
            blocking(move || store.put_blocking(&key, &data, &content_type)).await
        }
        .boxed()
    }

    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<StoredObject>, StoreError>> {
        async move {
            checked_key(key)?;
            let (store, key) = (self.clone(), key.to_owned());
            blocking(move || store.get_blocking(&key)).await
        }
        .boxed()
    }

    fn describe(&self) -> String {
        format!("local dir {}", self.root.display())
    }
}

/// A bucket on S3 or an S3-compatible server.
#[derive(Debug, Clone)]
pub struct S3Store {
    client: aws_sdk_s3::Client,
    bucket: String,
    region: String,
    /// The endpoint as configured, for [`ObjectStore::describe`].
    endpoint: Option<String>,
}

impl S3Store {
    /// A client for `bucket`. Credentials come from the standard AWS chain,
    /// looked up at the first request. Sends nothing.
    pub async fn connect(
        endpoint: Option<&str>,
        bucket: &str,
        region: &str,
        path_style: bool,
    ) -> Result<Self, StoreError> {
        if bucket.is_empty() {
            return Err(StoreError::Config("the S3 bucket is empty".into()));
        }
        if region.is_empty() {
            return Err(StoreError::Config("the S3 region is empty".into()));
        }
        if let Some(url) = endpoint {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(StoreError::Config(format!(
                    "the S3 endpoint {url:?} is not an http:// or https:// URL"
                )));
            }
        }
        // The SDK's default client would bring rustls with aws-lc-rs (a cmake
        // build); this one is hyper 1 + rustls with ring, the stack the rest
        // of the launcher already links.
        let http_client = aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
            .build_https();
        // Without timeouts a stalled server would hold a run's result back
        // until the job's redelivery; these bound each attempt, and the SDK's
        // standard retries (3 attempts) cover a blip.
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(5))
            .operation_attempt_timeout(Duration::from_secs(30))
            .build();
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(region.to_owned()))
            .http_client(http_client)
            .timeout_config(timeouts);
        if let Some(url) = endpoint {
            loader = loader.endpoint_url(url);
        }
        let shared = loader.load().await;
        let config = aws_sdk_s3::config::Builder::from(&shared)
            .force_path_style(path_style)
            // Newer SDKs checksum every upload by default, sent as an
            // aws-chunked trailer that S3-compatible servers often reject;
            // checksum only where the operation requires it.
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .build();
        Ok(Self {
            client: aws_sdk_s3::Client::from_conf(config),
            bucket: bucket.to_owned(),
            region: region.to_owned(),
            endpoint: endpoint.map(str::to_owned),
        })
    }

    /// The bucket.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// Creates the bucket unless this account already owns it.
    pub async fn create_bucket_if_missing(&self) -> Result<(), StoreError> {
        let mut request = self.client.create_bucket().bucket(&self.bucket);
        // us-east-1 is the one region that refuses an explicit constraint.
        if self.region != "us-east-1" {
            request = request.create_bucket_configuration(
                CreateBucketConfiguration::builder()
                    .location_constraint(BucketLocationConstraint::from(self.region.as_str()))
                    .build(),
            );
        }
        match request.send().await {
            Ok(_) => {
                tracing::info!(bucket = %self.bucket, "created the S3 bucket");
                Ok(())
            }
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_bucket_already_owned_by_you()) =>
            {
                Ok(())
            }
            Err(e) => Err(self.s3_error("create bucket", "", e)),
        }
    }

    fn s3_error(&self, op: &'static str, key: &str, error: impl std::error::Error) -> StoreError {
        StoreError::S3 {
            op,
            bucket: self.bucket.clone(),
            key: key.to_owned(),
            detail: DisplayErrorContext(error).to_string(),
        }
    }
}

impl ObjectStore for S3Store {
    fn put<'a>(
        &'a self,
        key: &'a str,
        data: Bytes,
        content_type: &'a str,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        async move {
            checked_key(key)?;
            checked_content_type(content_type)?;
            self.client
                .put_object()
                .bucket(&self.bucket)
                .key(key)
                .content_type(content_type)
                .body(ByteStream::from(data))
                .send()
                .await
                .map_err(|e| self.s3_error("put", key, e))?;
            Ok(())
        }
        .boxed()
    }

    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<StoredObject>, StoreError>> {
        async move {
            checked_key(key)?;
            let output = match self
                .client
                .get_object()
                .bucket(&self.bucket)
                .key(key)
                .send()
                .await
            {
                Ok(output) => output,
                // Only a missing key is `None`: a missing bucket or a refusal
                // is an error, never an empty result.
                Err(e)
                    if e.as_service_error()
                        .is_some_and(GetObjectError::is_no_such_key) =>
                {
                    return Ok(None)
                }
                Err(e) => return Err(self.s3_error("get", key, e)),
            };
            let content_type = output
                .content_type()
                .unwrap_or(DEFAULT_CONTENT_TYPE)
                .to_owned();
            let data = output
                .body
                .collect()
                .await
                .map_err(|e| self.s3_error("get", key, e))?
                .into_bytes();
            Ok(Some(StoredObject { data, content_type }))
        }
        .boxed()
    }

    fn describe(&self) -> String {
        match &self.endpoint {
            Some(url) => format!("s3 {url} bucket {}", self.bucket),
            None => format!("s3 aws {} bucket {}", self.region, self.bucket),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";

    fn local() -> (tempfile::TempDir, LocalStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::open(dir.path().join("files")).unwrap();
        (dir, store)
    }

    fn files_under(dir: &Path) -> Vec<PathBuf> {
        let mut found = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                found.extend(files_under(&path));
            } else {
                found.push(path);
            }
        }
        found
    }

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
    async fn objects_come_back_with_their_types() {
        let (_dir, store) = local();
        let binary: Vec<u8> = PNG.iter().copied().chain(0..=255).collect();
        store
            .put("run/1/shot.png", binary.clone().into(), "image/png")
            .await
            .unwrap();
        store
            .put(
                "run/1/notes.txt",
                Bytes::from_static(b"hello\n"),
                "text/plain; charset=utf-8",
            )
            .await
            .unwrap();

        let png = store.get("run/1/shot.png").await.unwrap().unwrap();
        assert_eq!(png.data, binary);
        assert_eq!(png.content_type, "image/png");
        let text = store.get("run/1/notes.txt").await.unwrap().unwrap();
        assert_eq!(text.data, &b"hello\n"[..]);
        assert_eq!(text.content_type, "text/plain; charset=utf-8");

        // The object on disk is the file itself, openable by an operator.
        let on_disk = std::fs::read(store.root().join("objects/run/1/shot.png")).unwrap();
        assert_eq!(on_disk, binary);
        // Nothing is left behind in tmp/.
        assert!(files_under(&store.root().join("tmp")).is_empty());
    }

    #[tokio::test]
    async fn an_empty_object_is_still_an_object() {
        let (_dir, store) = local();
        store
            .put("run/1/empty", Bytes::new(), "text/plain")
            .await
            .unwrap();
        let got = store.get("run/1/empty").await.unwrap().unwrap();
        assert!(got.data.is_empty());
        assert_eq!(got.content_type, "text/plain");
    }

    #[tokio::test]
    async fn missing_keys_are_none() {
        let (_dir, store) = local();
        assert_eq!(store.get("run/1/nothing.png").await.unwrap(), None);
        store
            .put("run/1/a", Bytes::from_static(b"a"), "text/plain")
            .await
            .unwrap();
        // A prefix of a key (a directory here) and a path through an object
        // (a file here) are both absent, as on S3.
        assert_eq!(store.get("run/1").await.unwrap(), None);
        assert_eq!(store.get("run/1/a/b").await.unwrap(), None);
    }

    #[tokio::test]
    async fn a_put_replaces_object_and_type() {
        let (_dir, store) = local();
        store
            .put("run/1/out", Bytes::from_static(b"{}"), "application/json")
            .await
            .unwrap();
        store
            .put("run/1/out", Bytes::from_static(PNG), "image/png")
            .await
            .unwrap();
        let got = store.get("run/1/out").await.unwrap().unwrap();
        assert_eq!(got.data, PNG);
        assert_eq!(got.content_type, "image/png");
    }

    #[tokio::test]
    async fn a_type_shaped_name_cannot_set_another_objects_type() {
        let (_dir, store) = local();
        store
            .put("run/1/x.png", Bytes::from_static(PNG), "image/png")
            .await
            .unwrap();
        store
            .put(
                "run/1/x.png.type",
                Bytes::from_static(b"text/html"),
                "text/plain",
            )
            .await
            .unwrap();
        let got = store.get("run/1/x.png").await.unwrap().unwrap();
        assert_eq!(got.content_type, "image/png");
    }

    #[tokio::test]
    async fn bad_keys_touch_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::open(dir.path().join("files")).unwrap();
        for key in [
            "../escaped",
            "/tmp/escaped",
            "run/../../escaped",
            "run\\..\\escaped",
        ] {
            let err = store
                .put(key, Bytes::from_static(b"x"), "text/plain")
                .await
                .unwrap_err();
            assert!(matches!(err, StoreError::BadKey { .. }), "{key:?}: {err}");
            assert!(err.is_bad_request());
            let err = store.get(key).await.unwrap_err();
            assert!(matches!(err, StoreError::BadKey { .. }), "{key:?}: {err}");
        }
        assert!(files_under(dir.path()).is_empty());
        assert!(!Path::new("/tmp/escaped").exists());
    }

    #[tokio::test]
    async fn a_bad_content_type_is_refused() {
        let (_dir, store) = local();
        let err = store
            .put(
                "run/1/x",
                Bytes::from_static(b"x"),
                "text/html\r\nSet-Cookie: a=b",
            )
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::BadContentType(_)), "{err}");
        assert_eq!(store.get("run/1/x").await.unwrap(), None);
    }

    #[tokio::test]
    async fn a_key_through_an_object_is_an_error_not_a_clobber() {
        let (_dir, store) = local();
        store
            .put("run/1/a", Bytes::from_static(b"a"), "text/plain")
            .await
            .unwrap();
        let err = store
            .put("run/1/a/b", Bytes::from_static(b"b"), "text/plain")
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Io { .. }), "{err}");
        assert_eq!(store.get("run/1/a").await.unwrap().unwrap().data, &b"a"[..]);
        assert!(files_under(&store.root().join("tmp")).is_empty());
    }

    #[tokio::test]
    async fn concurrent_puts_all_land() {
        let (_dir, store) = local();
        let store = Arc::new(store);
        let puts = (0..32).map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let key = format!("run/{}/f{i}.txt", i % 3);
                store
                    .put(&key, format!("file {i}").into(), "text/plain")
                    .await
                    .map(|()| (key, i))
            })
        });
        for put in futures::future::join_all(puts).await {
            let (key, i) = put.unwrap().unwrap();
            let got = store.get(&key).await.unwrap().unwrap();
            assert_eq!(got.data, format!("file {i}"));
        }
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

    #[tokio::test]
    async fn s3_describes_itself_without_sending_anything() {
        let store = S3Store::connect(Some("http://127.0.0.1:9"), "files", "eu-west-1", true)
            .await
            .unwrap();
        assert_eq!(store.describe(), "s3 http://127.0.0.1:9 bucket files");
        let store = S3Store::connect(None, "files", "eu-west-1", false)
            .await
            .unwrap();
        assert_eq!(store.describe(), "s3 aws eu-west-1 bucket files");
        // Keys are checked before any request (port 9 would refuse one).
        let err = store.get("../x").await.unwrap_err();
        assert!(matches!(err, StoreError::BadKey { .. }), "{err}");
    }
}
