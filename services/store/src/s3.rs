//! [`S3Store`]: the object store as a bucket on S3 or an S3-compatible
//! server, through `aws-sdk-s3` with the standard AWS credential chain
//! (environment, profile files, web identity, ECS, IMDS), over hyper 1 and
//! rustls with ring. It creates a bucket only when asked (tests), and never
//! deletes: expiry is the bucket's lifecycle rule.

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

use crate::key::checked_key;
use crate::{checked_content_type, ObjectStore, StoreError, StoredObject, DEFAULT_CONTENT_TYPE};

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
