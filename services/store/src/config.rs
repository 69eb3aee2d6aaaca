//! The store's configuration: [`StoreConfig`] (which store, and how) and
//! [`StoreArgs`], the `--store`, `--files-dir` and `--s3-*` flags that every
//! service opening the store (the launcher writes, the edge serves) flattens
//! into its own config. Parsing only: opening is [`crate::open_store`].

use std::path::PathBuf;

/// Which store to open, and how. [`StoreArgs::config`] maps a service's flags
/// onto it.
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
