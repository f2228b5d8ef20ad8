//! S3 store: objects in one bucket under a key prefix, written with one `PutObject` when small and
//! a multipart upload otherwise.
//!
//! Every request body is an in-memory `Bytes`, so the SDK's standard retry (3 attempts unless
//! configured) can resend a part after a transient failure such as a 503 `SlowDown` without us
//! buffering it a second time. We hash every body with SHA-256 ourselves and send the value as
//! `x-amz-checksum-sha256`: S3 then rejects a body damaged on the way (`BadDigest`), and the SDK,
//! seeing a checksum already set, adds none of its own. We never set
//! `RequestChecksumCalculation::WhenRequired`: with an algorithm but no value the SDK would send
//! the algorithm header alone, which real S3 rejects (DESIGN.md, "S3").
//!
//! The AWS environment (credentials, region, `AWS_ENDPOINT_URL[_S3]`, profile) is loaded once per
//! process and shared, so credentials are resolved and cached once however many stores are
//! opened. Each store builds its own client on top, with its endpoint, addressing style and retry
//! budget; a client (and its connection pool) is not shared between stores, because pooled
//! connections belong to the Tokio runtime that opened them and tests run many runtimes.

use std::sync::Mutex;

use aws_config::meta::region::RegionProviderChain;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_s3::Client;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::operation::RequestId as _;
use aws_sdk_s3::primitives::ByteStream as SdkByteStream;
use aws_sdk_s3::types::{
    ChecksumAlgorithm, CompletedMultipartUpload, CompletedPart,
    ServerSideEncryption as SdkServerSideEncryption,
};
use base64::Engine as _;
use sha2::{Digest as _, Sha256};
use tokio::sync::OnceCell;

use super::local::{validate_key, validate_prefix};
use super::*;

/// The region used when neither the environment nor the profile names one: S3-compatible servers
/// accept any, and real S3 answers a request signed for the wrong region with an error naming the
/// right one.
const DEFAULT_REGION: &str = "us-east-1";

/// S3 numbers parts 1 to 10,000; an object needing more must use a larger part size.
const MAX_PART_NUMBER: i32 = 10_000;

/// How objects are encrypted at rest by S3.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ServerSideEncryption {
    /// SSE-S3: keys managed by S3 (`AES256`).
    #[default]
    S3,
    /// SSE-KMS with the given key, or the account's default `aws/s3` key when `None`.
    Kms { key_id: Option<String> },
    /// Send no encryption header: the bucket's default encryption applies.
    None,
}

impl ServerSideEncryption {
    /// From the `--sse` / `STREAMDUMP_SSE` value (`s3`, `kms`, `none`) and an optional KMS key.
    pub fn parse(sse: &str, kms_key_id: Option<String>) -> Result<Self> {
        match (sse, kms_key_id) {
            ("s3", None) => Ok(ServerSideEncryption::S3),
            ("kms", key_id) => Ok(ServerSideEncryption::Kms { key_id }),
            ("none", None) => Ok(ServerSideEncryption::None),
            (_, Some(_)) => Err(Error::invalid("KMS key id", "only valid with SSE kms")),
            (other, None) => {
                Err(Error::invalid(format!("SSE '{other}'"), "expected s3, kms or none"))
            }
        }
    }
}

/// The standard AWS environment (credentials, region, endpoints), loaded once per process and
/// shared by every client streamdump builds (S3, Secrets Manager, SNS).
pub async fn aws_environment() -> &'static SdkConfig {
    ENVIRONMENT
        .get_or_init(|| async {
            let region = RegionProviderChain::default_provider()
                .or_else(Region::from_static(DEFAULT_REGION));
            aws_config::defaults(BehaviorVersion::latest()).region(region).load().await
        })
        .await
}

/// Settings for S3 stores, on top of the standard AWS environment.
#[derive(Debug, Clone, Default)]
pub struct S3Options {
    /// Address buckets as `endpoint/bucket/key` rather than `bucket.endpoint/key`; most
    /// S3-compatible servers need this.
    pub path_style: bool,
    /// Encryption requested for every object written.
    pub sse: ServerSideEncryption,
    /// Endpoint URL, overriding `AWS_ENDPOINT_URL_S3` and `AWS_ENDPOINT_URL`.
    pub endpoint: Option<String>,
    /// Attempts per request, the first included, for the SDK's standard retry. `None` keeps the
    /// environment's setting (`AWS_MAX_ATTEMPTS`, else 3).
    pub max_attempts: Option<u32>,
}

/// The AWS environment, loaded once per process.
static ENVIRONMENT: OnceCell<SdkConfig> = OnceCell::const_new();

/// A [`Store`] in an S3 bucket, rooted at `s3://bucket/prefix`.
#[derive(Debug)]
pub struct S3Store {
    location: Location,
    bucket: String,
    /// The root's key prefix, without a trailing `/`; empty for the bucket's root.
    prefix: String,
    client: Client,
    sse: ServerSideEncryption,
}

impl S3Store {
    /// Open the store at an `s3://` location with the client configured from the standard AWS
    /// environment plus `options`. No request is sent until the store is used.
    pub async fn open(location: Location, options: &S3Options) -> Result<Self> {
        Self::with_sdk_config(location, aws_environment().await, options)
    }

    /// Open the store with a client built from `config` (credentials, region, HTTP settings)
    /// plus `options`; for callers that configure the SDK themselves, such as tests.
    pub fn with_sdk_config(
        location: Location,
        config: &SdkConfig,
        options: &S3Options,
    ) -> Result<Self> {
        let Location::S3 { bucket, prefix } = &location else {
            return Err(Error::invalid(
                format!("location '{location}'"),
                "an S3 store needs an s3:// URL",
            ));
        };
        // Response checksums only when an operation requires them: S3's checksum of a multipart
        // object is a checksum of part checksums the SDK cannot verify (by default it warns on
        // every such GET), and every reader of our objects checks the full-object SHA-256 from
        // the manifest anyway.
        let mut builder = aws_sdk_s3::config::Builder::from(config)
            .force_path_style(options.path_style)
            .response_checksum_validation(
                aws_sdk_s3::config::ResponseChecksumValidation::WhenRequired,
            );
        if config.region().is_none() {
            builder = builder.region(Region::from_static(DEFAULT_REGION));
        }
        if let Some(endpoint) = &options.endpoint {
            url::Url::parse(endpoint)
                .map_err(|e| Error::invalid(format!("S3 endpoint '{endpoint}'"), e))?;
            builder = builder.endpoint_url(endpoint);
        }
        if let Some(attempts) = options.max_attempts {
            if attempts == 0 {
                return Err(Error::invalid("S3 max attempts", "must be at least 1"));
            }
            builder = builder.retry_config(RetryConfig::standard().with_max_attempts(attempts));
        }
        Ok(S3Store {
            bucket: bucket.clone(),
            prefix: prefix.clone(),
            client: Client::from_conf(builder.build()),
            sse: options.sse.clone(),
            location,
        })
    }

    /// Keys (relative to the root) with a multipart upload in progress, sorted. A store that
    /// completes or aborts every upload it starts leaves this empty.
    pub async fn list_multipart_uploads(&self) -> Result<Vec<String>> {
        let root = self.root_prefix();
        let mut keys = Vec::new();
        let (mut key_marker, mut upload_id_marker) = (None::<String>, None::<String>);
        loop {
            let page = self
                .client
                .list_multipart_uploads()
                .bucket(&self.bucket)
                .prefix(&root)
                .set_key_marker(key_marker.take())
                .set_upload_id_marker(upload_id_marker.take())
                .send()
                .await
                .map_err(|e| self.error("", e))?;
            keys.extend(
                page.uploads()
                    .iter()
                    .filter_map(|upload| upload.key()?.strip_prefix(root.as_str()))
                    .map(str::to_string),
            );
            if page.is_truncated() != Some(true) {
                break;
            }
            key_marker = page.next_key_marker().map(str::to_string);
            upload_id_marker = page.next_upload_id_marker().map(str::to_string);
            if key_marker.is_none() && upload_id_marker.is_none() {
                break;
            }
        }
        keys.sort();
        keys.dedup();
        Ok(keys)
    }

    /// The bucket key of `key`, after checking it stays below the root.
    fn object_key(&self, key: &str) -> Result<String> {
        validate_key(key)?;
        Ok(join_key(&self.prefix, key))
    }

    /// The string every bucket key below the root starts with: `prefix/`, or empty.
    fn root_prefix(&self) -> String {
        if self.prefix.is_empty() { String::new() } else { format!("{}/", self.prefix) }
    }

    /// The encryption headers for a new object.
    fn encryption(&self) -> (Option<SdkServerSideEncryption>, Option<String>) {
        match &self.sse {
            ServerSideEncryption::S3 => (Some(SdkServerSideEncryption::Aes256), None),
            ServerSideEncryption::Kms { key_id } => {
                (Some(SdkServerSideEncryption::AwsKms), key_id.clone())
            }
            ServerSideEncryption::None => (None, None),
        }
    }

    /// A failed request on `key`, as our error naming the object's URL.
    fn error<E>(&self, key: &str, error: SdkError<E, HttpResponse>) -> Error
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        Error::store(self.url(key), describe(&error))
    }
}

#[async_trait]
impl Store for S3Store {
    fn location(&self) -> &Location {
        &self.location
    }

    async fn put(&self, key: &str, body: Bytes) -> Result<()> {
        let object = self.object_key(key)?;
        let (sse, kms_key) = self.encryption();
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(object)
            .checksum_algorithm(ChecksumAlgorithm::Sha256)
            .checksum_sha256(sha256_base64(&body))
            .set_server_side_encryption(sse)
            .set_ssekms_key_id(kms_key)
            .body(SdkByteStream::from(body))
            .send()
            .await
            .map_err(|e| self.error(key, e))?;
        Ok(())
    }

    async fn start_upload(&self, key: &str) -> Result<Box<dyn Upload>> {
        let object = self.object_key(key)?;
        let (sse, kms_key) = self.encryption();
        let created = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(&object)
            .checksum_algorithm(ChecksumAlgorithm::Sha256)
            .set_server_side_encryption(sse)
            .set_ssekms_key_id(kms_key)
            .send()
            .await
            .map_err(|e| self.error(key, e))?;
        let upload_id = created
            .upload_id()
            .ok_or_else(|| {
                Error::store(self.url(key), "CreateMultipartUpload returned no upload id")
            })?
            .to_string();
        Ok(Box::new(S3Upload {
            client: self.client.clone(),
            bucket: self.bucket.clone(),
            object,
            url: self.url(key),
            upload_id,
            next_part: 1,
            parts: Arc::new(Mutex::new(Vec::new())),
            finished: false,
        }))
    }

    async fn get(&self, key: &str) -> Result<ByteStream> {
        let object = self.object_key(key)?;
        let output =
            self.client.get_object().bucket(&self.bucket).key(object).send().await.map_err(
                |e| {
                    if is_missing_object(&e) {
                        Error::NotFound { key: self.url(key) }
                    } else if e.as_service_error().and_then(|s| s.code()) == Some("AccessDenied") {
                        // S3 answers 403, not 404, for a missing object when the caller may not
                        // list the bucket (as the template's restore role may not).
                        self.error(key, e).with_note(
                            "without s3:ListBucket, S3 answers this for an object that does not \
                             exist as well",
                        )
                    } else {
                        self.error(key, e)
                    }
                },
            )?;
        // The body arrives as the network delivers it; a failure mid-way ends the stream with an
        // error. No `checksum_mode` (see `response_checksum_validation` above).
        let url = self.url(key);
        let stream = futures_util::stream::unfold(Some(output.body), move |body| {
            let url = url.clone();
            async move {
                let mut body = body?;
                match body.next().await? {
                    Ok(bytes) => Some((Ok(bytes), Some(body))),
                    Err(e) => Some((Err(Error::store(url, DisplayErrorContext(&e))), None)),
                }
            }
        });
        Ok(Box::pin(stream))
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>> {
        validate_prefix(prefix)?;
        let root = self.root_prefix();
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(format!("{root}{prefix}"))
            .into_paginator()
            .send();
        let mut keys = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| self.error(prefix, e))?;
            keys.extend(
                page.contents()
                    .iter()
                    .filter_map(|object| object.key()?.strip_prefix(root.as_str()))
                    .map(str::to_string),
            );
        }
        keys.sort();
        Ok(keys)
    }

    async fn delete(&self, key: &str) -> Result<()> {
        let object = self.object_key(key)?;
        match self.client.delete_object().bucket(&self.bucket).key(object).send().await {
            Ok(_) => Ok(()),
            // S3 answers 204 for a missing key; some compatible servers say 404.
            Err(e) if is_missing_object(&e) => Ok(()),
            Err(e) => Err(self.error(key, e)),
        }
    }
}

/// Whether a request failed because the object does not exist: `NoSuchKey`, or a bare 404 with no
/// error code. Any other 404 (`NoSuchBucket`) is a configuration error and must stay an error.
fn is_missing_object<E: ProvideErrorMetadata>(error: &SdkError<E, HttpResponse>) -> bool {
    let SdkError::ServiceError(service) = error else {
        return false;
    };
    match service.err().code() {
        Some(code) => code == "NoSuchKey",
        None => service.raw().status().as_u16() == 404,
    }
}

/// A failed request in one line. When the server answered: its error code, message, HTTP status
/// and request id (what AWS support asks for). Otherwise the SDK's error chain, which says what
/// went wrong on the way (connection refused, timeout, credentials). `DisplayErrorContext` alone
/// would also print the raw response, body included, for service errors.
pub(crate) fn describe<E>(error: &SdkError<E, HttpResponse>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let SdkError::ServiceError(service) = error else {
        return DisplayErrorContext(error).to_string();
    };
    let status = service.raw().status().as_u16();
    let request_id = error.request_id().map(|id| format!(", request id {id}")).unwrap_or_default();
    let code = service.err().code().unwrap_or("unknown error");
    match service.err().message() {
        Some(message) => format!("{code}: {message} (HTTP {status}{request_id})"),
        None => format!("{code} (HTTP {status}{request_id})"),
    }
}

/// base64 of the SHA-256 of `data`: the form of `x-amz-checksum-sha256`.
fn sha256_base64(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(data))
}

/// One multipart upload in progress.
struct S3Upload {
    client: Client,
    bucket: String,
    /// The full bucket key.
    object: String,
    /// The object's `s3://` URL, for errors.
    url: String,
    upload_id: String,
    /// The number the next `put_part` gets: parts are numbered in call order from 1.
    next_part: i32,
    /// Parts that finished uploading, in the order they finished.
    parts: Arc<Mutex<Vec<CompletedPart>>>,
    /// Completed or aborted: nothing is left to clean up.
    finished: bool,
}

impl S3Upload {
    fn finished_parts(&self) -> std::sync::MutexGuard<'_, Vec<CompletedPart>> {
        // A panic while holding this lock cannot leave the vector half-updated (one push), so a
        // poisoned lock still holds good data.
        self.parts.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[async_trait]
impl Upload for S3Upload {
    fn put_part(&mut self, data: Bytes) -> UploadPart {
        let part_number = self.next_part;
        self.next_part = self.next_part.saturating_add(1);
        let url = self.url.clone();
        let parts = Arc::clone(&self.parts);
        let request = self
            .client
            .upload_part()
            .bucket(&self.bucket)
            .key(&self.object)
            .upload_id(&self.upload_id)
            .part_number(part_number);
        Box::pin(async move {
            if part_number > MAX_PART_NUMBER {
                return Err(Error::store(
                    url,
                    format!("more than {MAX_PART_NUMBER} parts: use a larger part size"),
                ));
            }
            // Hashing here, not in put_part, lets parts in flight hash on different threads.
            let checksum = sha256_base64(&data);
            let output = request
                .checksum_algorithm(ChecksumAlgorithm::Sha256)
                .checksum_sha256(checksum.clone())
                .body(SdkByteStream::from(data))
                .send()
                .await
                .map_err(|e| Error::store(&url, format!("part {part_number}: {}", describe(&e))))?;
            let e_tag = output.e_tag().ok_or_else(|| {
                Error::store(&url, format!("part {part_number}: UploadPart returned no ETag"))
            })?;
            let part = CompletedPart::builder()
                .part_number(part_number)
                .e_tag(e_tag)
                .checksum_sha256(checksum)
                .build();
            parts.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(part);
            Ok(())
        })
    }

    async fn complete(&mut self) -> Result<()> {
        if self.finished {
            return Err(Error::store(&self.url, "upload already completed or aborted"));
        }
        if self.next_part == 1 {
            // S3 cannot complete an upload without parts; an empty part makes an empty object.
            self.put_part(Bytes::new()).await?;
        }
        let mut parts = self.finished_parts().clone();
        let started = usize::try_from(self.next_part - 1).unwrap_or(0);
        if parts.len() != started {
            return Err(Error::store(
                &self.url,
                format!(
                    "only {} of {started} parts finished uploading; cannot complete",
                    parts.len()
                ),
            ));
        }
        parts.sort_by_key(|part| part.part_number());
        self.client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(&self.object)
            .upload_id(&self.upload_id)
            .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
            .send()
            .await
            .map_err(|e| Error::store(&self.url, describe(&e)))?;
        self.finished = true;
        Ok(())
    }

    async fn abort(&mut self) -> Result<()> {
        let result = self
            .client
            .abort_multipart_upload()
            .bucket(&self.bucket)
            .key(&self.object)
            .upload_id(&self.upload_id)
            .send()
            .await;
        match result {
            Ok(_) => {}
            // Already gone (aborted before, or expired by a lifecycle rule): nothing is left.
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_upload()) => {}
            Err(e) => return Err(Error::store(&self.url, describe(&e))),
        }
        self.finished = true;
        Ok(())
    }
}

impl Drop for S3Upload {
    /// An upload dropped without `complete` or `abort` (a cancelled task, a panic) would keep its
    /// parts stored, and billed, until the bucket's lifecycle rule expires it. Abort it in the
    /// background if a runtime is still there to run the request; best effort.
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let request = self
            .client
            .abort_multipart_upload()
            .bucket(&self.bucket)
            .key(&self.object)
            .upload_id(&self.upload_id);
        let url = self.url.clone();
        runtime.spawn(async move {
            if let Err(e) = request.send().await {
                tracing::warn!(key = %url, error = %describe(&e), "aborting dropped multipart upload failed");
            }
        });
    }
}
