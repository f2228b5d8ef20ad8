//! Where backups live: one small contract, two backends.
//!
//! A [`Store`] is rooted at a [`Location`] (`s3://bucket/prefix` or `file:///dir`) and deals in
//! keys relative to that root. Writing an object is all-or-nothing: either a single
//! [`Store::put`] for output smaller than one part, or an [`Upload`] whose parts become visible
//! only on [`Upload::complete`] and vanish on [`Upload::abort`]. The shape follows object_store's
//! `MultipartUpload`: `put_part` returns a future so several parts can be in flight, and the
//! caller ([`PartWriter`]) bounds how many, which is what carries backpressure back to the
//! database read.
//!
//! The same conformance suite (`conformance.rs`) runs against every backend, so the local store
//! and S3 are proven to behave alike.

#[cfg(test)]
mod conformance;
mod local;
mod s3;

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::future::BoxFuture;
use futures_util::stream::Stream;
use tokio::task::JoinSet;

use crate::buffers::Recycler;
use crate::error::{Error, Result};

pub use local::LocalStore;
/// One line for a failed AWS SDK request (S3, Secrets Manager, SNS alike).
pub(crate) use s3::describe as describe_aws_error;
pub use s3::{S3Options, S3Store, ServerSideEncryption, aws_environment};

/// Default size of one multipart part: 8 MiB. S3 needs at least 5 MiB for every part but the
/// last; 8 MiB keeps memory small while keeping the request count (and its overhead) low.
pub const DEFAULT_PART_SIZE: usize = 8 * 1024 * 1024;

/// Default number of parts uploading at once per object. Part buffers per object are at most
/// `part_size * (parts_in_flight + 1)`: those in flight and the one filling.
pub const DEFAULT_PARTS_IN_FLIGHT: usize = 3;

/// The smallest part S3 accepts (except the last one of an upload).
pub const MIN_PART_SIZE: usize = 5 * 1024 * 1024;

/// A stream of an object's bytes, as read from a store.
pub type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes>> + Send>>;

/// The future of one part upload; resolves when the part is durably stored.
pub type UploadPart = BoxFuture<'static, Result<()>>;

/// A destination or source of backups, parsed from a URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// `s3://bucket/prefix`: `prefix` has no leading or trailing `/` (may be empty).
    S3 { bucket: String, prefix: String },
    /// `file:///absolute/dir`.
    Local { path: std::path::PathBuf },
}

impl Location {
    /// Parse `s3://bucket[/prefix]` or `file:///dir`. The error names the URL and what is wrong.
    pub fn parse(url: &str) -> Result<Self> {
        let bad = |reason: &str| Error::invalid(format!("location '{url}'"), reason);
        if let Some(rest) = url.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(bad("missing bucket name (expected s3://bucket/prefix)"));
            }
            let valid_bucket = bucket.len() >= 3
                && bucket.len() <= 63
                && bucket.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.'
                });
            if !valid_bucket {
                return Err(bad("bucket names are 3-63 characters of a-z, 0-9, '-' and '.'"));
            }
            let prefix = prefix.trim_matches('/');
            if prefix.split('/').any(|s| s == ".." || s == ".") {
                return Err(bad("prefix may not contain '.' or '..' segments"));
            }
            Ok(Location::S3 { bucket: bucket.to_string(), prefix: prefix.to_string() })
        } else if let Some(rest) = url.strip_prefix("file://") {
            if !rest.starts_with('/') {
                return Err(bad("file URLs need an absolute path (file:///dir)"));
            }
            let path = std::path::PathBuf::from(rest.trim_end_matches('/'));
            if path.components().any(|c| matches!(c, std::path::Component::ParentDir)) {
                return Err(bad("path may not contain '..'"));
            }
            let path = if path.as_os_str().is_empty() { "/".into() } else { path };
            Ok(Location::Local { path })
        } else {
            Err(bad("must start with s3:// or file://"))
        }
    }

    /// The location of a key below this one (`key` uses `/` separators).
    pub fn join(&self, key: &str) -> Location {
        let key = key.trim_matches('/');
        match self {
            Location::S3 { bucket, prefix } => {
                Location::S3 { bucket: bucket.clone(), prefix: join_key(prefix, key) }
            }
            Location::Local { path } => Location::Local { path: path.join(key) },
        }
    }

    /// Split `.../dir/name` into the location of `dir` and `name` (used to open the store that
    /// holds a manifest given the manifest's URL).
    pub fn split_last(&self) -> Option<(Location, String)> {
        match self {
            Location::S3 { bucket, prefix } => {
                let (dir, name) = prefix.rsplit_once('/').unwrap_or(("", prefix.as_str()));
                (!name.is_empty()).then(|| {
                    (
                        Location::S3 { bucket: bucket.clone(), prefix: dir.to_string() },
                        name.to_string(),
                    )
                })
            }
            Location::Local { path } => {
                let name = path.file_name()?.to_str()?.to_string();
                let dir = path.parent()?.to_path_buf();
                Some((Location::Local { path: dir }, name))
            }
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::S3 { bucket, prefix } if prefix.is_empty() => write!(f, "s3://{bucket}"),
            Location::S3 { bucket, prefix } => write!(f, "s3://{bucket}/{prefix}"),
            Location::Local { path } => write!(f, "file://{}", path.display()),
        }
    }
}

/// `a/b` + `c/d` = `a/b/c/d`, with no doubled or leading separators.
pub(crate) fn join_key(prefix: &str, key: &str) -> String {
    match (prefix.is_empty(), key.is_empty()) {
        (true, _) => key.to_string(),
        (false, true) => prefix.to_string(),
        (false, false) => format!("{prefix}/{key}"),
    }
}

/// An object store rooted at one [`Location`].
///
/// Keys are relative to the root and use `/`. Every method's error names the full key. Reads see
/// only completed objects: a half-written object is never visible under its key.
#[async_trait]
pub trait Store: Send + Sync + fmt::Debug {
    /// The root this store was opened at.
    fn location(&self) -> &Location;

    /// Store `body` as the whole object `key` in one request (used for small objects).
    async fn put(&self, key: &str, body: Bytes) -> Result<()>;

    /// Begin a multipart upload of `key`. Nothing is visible until [`Upload::complete`].
    async fn start_upload(&self, key: &str) -> Result<Box<dyn Upload>>;

    /// Stream the object's bytes. A missing key is [`Error::NotFound`].
    async fn get(&self, key: &str) -> Result<ByteStream>;

    /// Keys (relative to the root) of all completed objects whose key starts with `prefix`,
    /// sorted.
    async fn list(&self, prefix: &str) -> Result<Vec<String>>;

    /// Remove an object; removing a missing key is not an error.
    async fn delete(&self, key: &str) -> Result<()>;

    /// Read a whole (small) object into memory: manifests, never data.
    async fn get_bytes(&self, key: &str) -> Result<Bytes> {
        use futures_util::TryStreamExt;
        let parts: Vec<Bytes> = self.get(key).await?.try_collect().await?;
        Ok(parts.concat().into())
    }

    /// A URL for `key`, for reports and error messages.
    fn url(&self, key: &str) -> String {
        self.location().join(key).to_string()
    }
}

/// One object being written in parts.
///
/// Execution model: the caller calls [`put_part`](Upload::put_part) for parts in order (every
/// part but the last at least [`MIN_PART_SIZE`]), may poll several returned futures at once, and
/// after every part future has resolved calls exactly one of [`complete`](Upload::complete) or
/// [`abort`](Upload::abort). If any part fails the caller must abort.
#[async_trait]
pub trait Upload: Send {
    /// Start uploading the next part. The returned future owns everything it needs.
    fn put_part(&mut self, data: Bytes) -> UploadPart;

    /// Make the object visible under its key, assembled from the parts in order.
    async fn complete(&mut self) -> Result<()>;

    /// Discard the parts; nothing becomes visible and no storage is left behind.
    async fn abort(&mut self) -> Result<()>;
}

/// Options shared by every store a process opens.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    pub part_size: usize,
    pub parts_in_flight: usize,
    pub s3: S3Options,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            part_size: DEFAULT_PART_SIZE,
            parts_in_flight: DEFAULT_PARTS_IN_FLIGHT,
            s3: S3Options::default(),
        }
    }
}

impl StoreOptions {
    pub fn validate(&self) -> Result<()> {
        if self.part_size < MIN_PART_SIZE || self.part_size > 5 * 1024 * 1024 * 1024 {
            return Err(Error::invalid(
                "part size",
                format!("{} bytes is outside S3's limits (5 MiB to 5 GiB)", self.part_size),
            ));
        }
        if self.parts_in_flight == 0 || self.parts_in_flight > 64 {
            return Err(Error::invalid("parts in flight", "must be between 1 and 64"));
        }
        Ok(())
    }
}

/// Open the store at `location`. S3 clients are built from the standard AWS environment
/// (credentials, region, `AWS_ENDPOINT_URL_S3`) plus `options.s3`.
pub async fn open(location: &Location, options: &StoreOptions) -> Result<Arc<dyn Store>> {
    match location {
        Location::S3 { .. } => Ok(Arc::new(S3Store::open(location.clone(), &options.s3).await?)),
        Location::Local { .. } => Ok(Arc::new(LocalStore::open(location.clone()).await?)),
    }
}

/// Writes one object from a sequence of byte buffers, choosing `put` for small output and a
/// multipart upload otherwise, with at most `parts_in_flight` parts uploading at once.
///
/// [`PartWriter::write`] awaits while the in-flight limit is reached, so a slow store slows the
/// producer instead of growing memory. Any failure aborts the upload before the error is returned.
pub struct PartWriter {
    store: Arc<dyn Store>,
    key: String,
    part_size: usize,
    parts_in_flight: usize,
    buffer: bytes::BytesMut,
    /// Part buffers come back here once their upload has dropped them.
    buffers: Recycler,
    upload: Option<Box<dyn Upload>>,
    in_flight: JoinSet<Result<()>>,
    written: u64,
}

impl PartWriter {
    pub fn new(store: Arc<dyn Store>, key: impl Into<String>, options: &StoreOptions) -> Self {
        PartWriter {
            store,
            key: key.into(),
            part_size: options.part_size,
            parts_in_flight: options.parts_in_flight,
            buffer: bytes::BytesMut::new(),
            // Every part in flight and the one filling. `send_part` joins a part before it
            // starts one past the bound, so when a new buffer is needed the oldest of these is
            // done and free: a spare only raised the peak.
            buffers: Recycler::new(options.part_size, options.parts_in_flight + 1),
            upload: None,
            in_flight: JoinSet::new(),
            written: 0,
        }
    }

    /// The key being written.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Bytes accepted so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Accept more bytes; uploads every full part. On error the upload is already aborted.
    ///
    /// Each part is filled in its own allocation of exactly `part_size` bytes: growing one buffer
    /// and splitting parts off it would let capacity doubling pin up to twice the part size per
    /// part in flight.
    pub async fn write(&mut self, mut data: &[u8]) -> Result<()> {
        self.written += data.len() as u64;
        while !data.is_empty() {
            if self.buffer.capacity() == 0 {
                self.buffer = self.buffers.buffer();
            }
            let take = (self.part_size - self.buffer.len()).min(data.len());
            self.buffer.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.buffer.len() == self.part_size {
                let part = self.buffers.freeze(std::mem::take(&mut self.buffer));
                if let Err(e) = self.send_part(part).await {
                    self.abort().await;
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    async fn send_part(&mut self, part: Bytes) -> Result<()> {
        if self.upload.is_none() {
            self.upload = Some(self.store.start_upload(&self.key).await?);
        }
        while self.in_flight.len() >= self.parts_in_flight {
            self.join_one().await?;
        }
        if let Some(upload) = self.upload.as_mut() {
            self.in_flight.spawn(upload.put_part(part));
        }
        Ok(())
    }

    async fn join_one(&mut self) -> Result<()> {
        match self.in_flight.join_next().await {
            Some(Ok(result)) => result,
            Some(Err(join)) => {
                Err(Error::store(&self.key, format!("part upload task failed: {join}")))
            }
            None => Ok(()),
        }
    }

    /// Flush the rest and make the object visible. On error the upload is already aborted.
    pub async fn finish(mut self) -> Result<()> {
        let rest = std::mem::take(&mut self.buffer).freeze();
        if self.upload.is_none() {
            return self.store.put(&self.key, rest).await;
        }
        let result = async {
            if !rest.is_empty() {
                self.send_part(rest).await?;
            }
            while !self.in_flight.is_empty() {
                self.join_one().await?;
            }
            match self.upload.as_mut() {
                Some(upload) => upload.complete().await,
                None => Ok(()),
            }
        }
        .await;
        if result.is_err() {
            self.abort().await;
        }
        result
    }

    /// Stop: cancel parts in flight and abort the upload. Errors while aborting are logged, not
    /// returned, because the caller is already handling the error that caused the abort.
    pub async fn abort(&mut self) {
        self.in_flight.abort_all();
        while self.in_flight.join_next().await.is_some() {}
        if let Some(mut upload) = self.upload.take()
            && let Err(e) = upload.abort().await
        {
            tracing::warn!(key = %self.key, error = %e, "aborting multipart upload failed");
        }
        self.buffer.clear();
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn parses_s3_locations() {
        assert_eq!(
            Location::parse("s3://my-bucket/a/b/").unwrap(),
            Location::S3 { bucket: "my-bucket".into(), prefix: "a/b".into() }
        );
        assert_eq!(
            Location::parse("s3://my-bucket").unwrap(),
            Location::S3 { bucket: "my-bucket".into(), prefix: "".into() }
        );
        assert_eq!(Location::parse("s3://my-bucket/x").unwrap().to_string(), "s3://my-bucket/x");
    }

    #[test]
    fn rejects_bad_locations_naming_them() {
        for bad in [
            "s3://",
            "s3:///x",
            "s3://UPPER/x",
            "http://x/y",
            "file://rel/dir",
            "/tmp/x",
            "s3://b-ok/../x",
        ] {
            let err = Location::parse(bad).unwrap_err().to_string();
            assert!(err.contains(bad), "error for {bad} does not name it: {err}");
        }
    }

    #[test]
    fn joins_and_splits_keys() {
        let root = Location::parse("s3://bkt/pre").unwrap();
        let manifest = root.join("db/20261125T000000Z-ab12/manifest.json");
        assert_eq!(manifest.to_string(), "s3://bkt/pre/db/20261125T000000Z-ab12/manifest.json");
        let (dir, name) = manifest.split_last().unwrap();
        assert_eq!(name, "manifest.json");
        assert_eq!(dir.to_string(), "s3://bkt/pre/db/20261125T000000Z-ab12");
        let local = Location::parse("file:///var/backups/").unwrap().join("db/x/manifest.json");
        assert_eq!(local.to_string(), "file:///var/backups/db/x/manifest.json");
        assert_eq!(local.split_last().unwrap().0.to_string(), "file:///var/backups/db/x");
    }

    /// Parts that hang until the test lets them finish, counting how many run at once.
    #[derive(Debug)]
    struct Gate {
        open: tokio::sync::Semaphore,
        running: std::sync::atomic::AtomicUsize,
        most: std::sync::atomic::AtomicUsize,
        started: std::sync::atomic::AtomicUsize,
    }

    #[derive(Debug)]
    struct GatedStore {
        location: Location,
        gate: Arc<Gate>,
    }

    struct GatedUpload(Arc<Gate>);

    #[async_trait]
    impl Store for GatedStore {
        fn location(&self) -> &Location {
            &self.location
        }
        async fn put(&self, key: &str, _body: Bytes) -> Result<()> {
            Err(Error::store(key, "the gated store takes parts only"))
        }
        async fn start_upload(&self, _key: &str) -> Result<Box<dyn Upload>> {
            Ok(Box::new(GatedUpload(Arc::clone(&self.gate))))
        }
        async fn get(&self, key: &str) -> Result<ByteStream> {
            Err(Error::store(key, "the gated store cannot be read"))
        }
        async fn list(&self, _prefix: &str) -> Result<Vec<String>> {
            Ok(Vec::new())
        }
        async fn delete(&self, _key: &str) -> Result<()> {
            Ok(())
        }
    }

    #[async_trait]
    impl Upload for GatedUpload {
        fn put_part(&mut self, _data: Bytes) -> UploadPart {
            use std::sync::atomic::Ordering::SeqCst;
            let gate = Arc::clone(&self.0);
            Box::pin(async move {
                gate.started.fetch_add(1, SeqCst);
                let now = gate.running.fetch_add(1, SeqCst) + 1;
                gate.most.fetch_max(now, SeqCst);
                let permit = gate.open.acquire().await;
                gate.running.fetch_sub(1, SeqCst);
                permit.map(|p| p.forget()).map_err(|e| Error::store("gated", e))
            })
        }
        async fn complete(&mut self) -> Result<()> {
            Ok(())
        }
        async fn abort(&mut self) -> Result<()> {
            Ok(())
        }
    }

    /// With two parts hanging, a writer of `parts_in_flight = 2` starts no third part and its
    /// `write` does not return: the caller (the database read) is held back. Released, all six
    /// parts go out, never more than two at once.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn parts_in_flight_are_bounded_and_hold_back_the_writer() {
        use std::sync::atomic::Ordering::SeqCst;
        let gate = Arc::new(Gate {
            open: tokio::sync::Semaphore::new(0),
            running: Default::default(),
            most: Default::default(),
            started: Default::default(),
        });
        let store =
            GatedStore { location: Location::parse("file:///gated").unwrap(), gate: gate.clone() };
        let options = StoreOptions {
            part_size: MIN_PART_SIZE,
            parts_in_flight: 2,
            ..StoreOptions::default()
        };
        let mut writer = PartWriter::new(Arc::new(store), "k", &options);
        let written = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let task = tokio::spawn({
            let written = Arc::clone(&written);
            async move {
                let part = vec![7u8; MIN_PART_SIZE];
                for _ in 0..6 {
                    writer.write(&part).await?;
                    written.fetch_add(1, SeqCst);
                }
                writer.finish().await
            }
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(gate.started.load(SeqCst), 2, "parts started while two hang");
        assert_eq!(written.load(SeqCst), 2, "writes returned while two parts hang");
        assert!(!task.is_finished());

        gate.open.add_permits(6);
        tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .expect("the writer finishes once parts complete")
            .expect("writer task")
            .expect("upload");
        assert_eq!(gate.started.load(SeqCst), 6);
        assert_eq!(gate.most.load(SeqCst), 2, "at most two parts at once");
    }
}
