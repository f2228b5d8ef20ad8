//! The behaviour every [`Store`] promises, checked against each backend.
//!
//! Each check is an async function of a [`Backend`]: a store under test, a sibling store whose
//! root shares its string prefix (so listings that leak across the root's boundary show up), and
//! a probe for what the backend leaves behind besides visible objects (S3's open multipart
//! uploads, the local store's staging files). The `conformance!` macro runs every check against a
//! `LocalStore` in a temporary directory (`store::conformance::local::*`) and against an
//! `S3Store` on the local SeaweedFS server (`store::conformance::s3::*`), so the two are proven to
//! behave alike.
//!
//! The S3 checks fail, rather than skip, when the server is down: a check that quietly does not
//! run proves nothing. Start it with `scripts/dev.sh up`; `STREAMDUMP_TEST_S3_ENDPOINT` and
//! `STREAMDUMP_TEST_S3_BUCKET` point elsewhere, and credentials come from the usual `AWS_*`
//! variables (default `testkey`/`testsecret`, `us-east-1`). Every S3 test works under its own
//! random prefix, so tests can run in parallel and again without cleaning the bucket.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_s3::config::Credentials;
use tempfile::TempDir;

use super::*;

const MIB: usize = 1024 * 1024;
const DEFAULT_S3_ENDPOINT: &str = "http://127.0.0.1:18333";
const DEFAULT_S3_BUCKET: &str = "streamdump-test";

/// A store under test and what is needed to judge it.
struct Backend {
    store: Arc<dyn Store>,
    /// Rooted at `<root>-sibling`: nothing written here may appear in `store`'s listings.
    sibling: Arc<dyn Store>,
    residue: Residue,
}

/// Where a backend keeps what is not (yet) a visible object.
enum Residue {
    /// Staging files anywhere below the temporary directory (which holds both roots).
    Local(TempDir),
    /// Multipart uploads in progress under the store's root.
    S3(Arc<S3Store>),
}

impl Backend {
    async fn local() -> Backend {
        let dir = tempfile::tempdir().expect("create a temporary directory");
        let open = |name: &str| LocalStore::open(Location::Local { path: dir.path().join(name) });
        let store = Arc::new(open("root").await.expect("open the local store"));
        let sibling = Arc::new(open("root-sibling").await.expect("open the sibling store"));
        Backend { store, sibling, residue: Residue::Local(dir) }
    }

    async fn s3() -> Backend {
        let (config, options, bucket) = s3_test_config().await;
        let prefix = format!("conformance/{:016x}", rand::random::<u64>());
        let open = |prefix: String| {
            S3Store::with_sdk_config(
                Location::S3 { bucket: bucket.clone(), prefix },
                &config,
                &options,
            )
            .expect("open the S3 store")
        };
        let store = Arc::new(open(prefix.clone()));
        let sibling = Arc::new(open(format!("{prefix}-sibling")));
        Backend { store: store.clone(), sibling, residue: Residue::S3(store) }
    }

    /// What the backend holds besides completed objects: must be empty once every upload has been
    /// completed or aborted.
    async fn leftovers(&self) -> Vec<String> {
        match &self.residue {
            Residue::Local(dir) => {
                let mut found = Vec::new();
                staging_files(dir.path(), &mut found);
                found
            }
            Residue::S3(store) => {
                store.list_multipart_uploads().await.expect("list multipart uploads")
            }
        }
    }

    /// Wait (up to 10 s) for leftovers to go away: for cleanup that runs in the background.
    async fn leftovers_after_settling(&self) -> Vec<String> {
        for _ in 0..100 {
            if self.leftovers().await.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.leftovers().await
    }
}

fn staging_files(dir: &Path, found: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            staging_files(&path, found);
        } else if entry
            .file_name()
            .to_str()
            .is_some_and(|n| n.starts_with('.') && n.ends_with(".partial"))
        {
            found.push(path.display().to_string());
        }
    }
}

/// SDK configuration, store options and bucket for the S3 test server; the bucket is created if
/// missing. Panics, naming the fix, when the server cannot be reached.
async fn s3_test_config() -> (SdkConfig, S3Options, String) {
    let var = |name: &str, default: &str| {
        std::env::var(name).ok().filter(|v| !v.is_empty()).unwrap_or_else(|| default.to_string())
    };
    let endpoint = var("STREAMDUMP_TEST_S3_ENDPOINT", DEFAULT_S3_ENDPOINT);
    let bucket = var("STREAMDUMP_TEST_S3_BUCKET", DEFAULT_S3_BUCKET);
    require_reachable(&endpoint);
    let credentials = Credentials::new(
        var("AWS_ACCESS_KEY_ID", "testkey"),
        var("AWS_SECRET_ACCESS_KEY", "testsecret"),
        std::env::var("AWS_SESSION_TOKEN").ok(),
        None,
        "streamdump-test",
    );
    let config = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(var("AWS_REGION", "us-east-1")))
        .credentials_provider(credentials)
        .load()
        .await;
    let options =
        S3Options { path_style: true, endpoint: Some(endpoint.clone()), ..S3Options::default() };
    let client = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&config)
            .endpoint_url(&endpoint)
            .force_path_style(true)
            .build(),
    );
    // If creating fails, the bucket may already be there (perhaps created by a test running
    // alongside): fine if we can reach it.
    if let Err(e) = client.create_bucket().bucket(&bucket).send().await
        && let Err(head) = client.head_bucket().bucket(&bucket).send().await
    {
        panic!(
            "cannot create or reach bucket {bucket} at {endpoint}: {}; {}",
            aws_sdk_s3::error::DisplayErrorContext(&e),
            aws_sdk_s3::error::DisplayErrorContext(&head)
        );
    }
    (config, options, bucket)
}

fn require_reachable(endpoint: &str) {
    let url = url::Url::parse(endpoint)
        .unwrap_or_else(|e| panic!("STREAMDUMP_TEST_S3_ENDPOINT '{endpoint}' is not a URL: {e}"));
    let reachable = url.socket_addrs(|| Some(80)).is_ok_and(|addrs| {
        addrs
            .iter()
            .any(|a| std::net::TcpStream::connect_timeout(a, Duration::from_secs(3)).is_ok())
    });
    assert!(
        reachable,
        "the S3 test server at {endpoint} is not reachable: start it with `scripts/dev.sh up` \
         (or point STREAMDUMP_TEST_S3_ENDPOINT at one)"
    );
}

/// Deterministic bytes that do not compress and have no repeating period a part boundary could
/// hide behind (splitmix64).
fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        out.extend_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Compare without printing megabytes on failure.
fn assert_same_bytes(got: &[u8], want: &[u8], what: &str) {
    if got != want {
        let first =
            got.iter().zip(want).position(|(a, b)| a != b).unwrap_or(got.len().min(want.len()));
        panic!(
            "{what}: got {} bytes, want {}; first difference at byte {first}",
            got.len(),
            want.len()
        );
    }
}

async fn assert_not_found(store: &dyn Store, key: &str) {
    match store.get(key).await {
        Ok(_) => panic!("{key} should not exist"),
        Err(Error::NotFound { key: named }) => assert_eq!(named, store.url(key)),
        Err(other) => panic!("get {key}: expected NotFound, got: {other}"),
    }
}

fn part_options() -> StoreOptions {
    StoreOptions { part_size: MIN_PART_SIZE, parts_in_flight: 2, ..StoreOptions::default() }
}

/// A store that counts multipart uploads started through it, to tell `put` from multipart.
#[derive(Debug)]
struct CountingUploads {
    inner: Arc<dyn Store>,
    started: AtomicUsize,
}

#[async_trait]
impl Store for CountingUploads {
    fn location(&self) -> &Location {
        self.inner.location()
    }
    async fn put(&self, key: &str, body: Bytes) -> Result<()> {
        self.inner.put(key, body).await
    }
    async fn start_upload(&self, key: &str) -> Result<Box<dyn Upload>> {
        self.started.fetch_add(1, Ordering::SeqCst);
        self.inner.start_upload(key).await
    }
    async fn get(&self, key: &str) -> Result<ByteStream> {
        self.inner.get(key).await
    }
    async fn list(&self, prefix: &str) -> Result<Vec<String>> {
        self.inner.list(prefix).await
    }
    async fn delete(&self, key: &str) -> Result<()> {
        self.inner.delete(key).await
    }
}

async fn put_then_get_round_trips_bytes_including_empty_objects(b: &Backend) {
    b.store.put("small.txt", Bytes::from_static(b"hello, store")).await.expect("put small");
    b.store.put("empty", Bytes::new()).await.expect("put empty");
    assert_eq!(b.store.get_bytes("small.txt").await.expect("get small"), "hello, store");
    assert_eq!(b.store.get_bytes("empty").await.expect("get empty").len(), 0);
    assert_eq!(b.store.list("").await.expect("list"), ["empty", "small.txt"]);
}

async fn put_replaces_an_existing_object(b: &Backend) {
    b.store.put("manifest.json", Bytes::from_static(b"first, longer version")).await.expect("put");
    b.store.put("manifest.json", Bytes::from_static(b"second")).await.expect("put again");
    assert_eq!(b.store.get_bytes("manifest.json").await.expect("get"), "second");
    assert_eq!(b.store.list("").await.expect("list"), ["manifest.json"]);
}

async fn part_writer_with_three_parts_round_trips_byte_exact(b: &Backend) {
    let store = Arc::new(CountingUploads { inner: b.store.clone(), started: AtomicUsize::new(0) });
    let key = "db/data/public/orders/000000.copy.zst";
    // 12 MiB and a bit in 5 MiB parts: 5 + 5 + 2, written in sizes that straddle part boundaries.
    let data = pseudo_random(12 * MIB + 4321, 1);
    let mut writer = PartWriter::new(store.clone(), key, &part_options());
    for chunk in data.chunks(1_000_003) {
        writer.write(chunk).await.expect("write");
    }
    assert_eq!(writer.written(), data.len() as u64);
    writer.finish().await.expect("finish");
    assert_eq!(store.started.load(Ordering::SeqCst), 1, "should be one multipart upload");
    assert_same_bytes(&b.store.get_bytes(key).await.expect("get"), &data, key);
    assert_eq!(b.leftovers().await, Vec::<String>::new());
}

async fn part_writer_below_one_part_uses_a_single_put(b: &Backend) {
    let store = Arc::new(CountingUploads { inner: b.store.clone(), started: AtomicUsize::new(0) });
    let data = pseudo_random(MIB + 17, 2);
    let mut writer = PartWriter::new(store.clone(), "small.bin", &part_options());
    writer.write(&data).await.expect("write");
    writer.finish().await.expect("finish");
    // Nothing written at all is still an object: an empty table's chunk.
    PartWriter::new(store.clone(), "nothing.bin", &part_options())
        .finish()
        .await
        .expect("finish empty");

    assert_eq!(store.started.load(Ordering::SeqCst), 0, "no multipart upload should be started");
    assert_same_bytes(&b.store.get_bytes("small.bin").await.expect("get"), &data, "small.bin");
    assert_eq!(b.store.get_bytes("nothing.bin").await.expect("get empty").len(), 0);
    assert_eq!(b.leftovers().await, Vec::<String>::new());
}

async fn aborted_upload_leaves_nothing_visible(b: &Backend) {
    let key = "aborted/object.bin";
    let mut upload = b.store.start_upload(key).await.expect("start upload");
    upload.put_part(Bytes::from(pseudo_random(MIN_PART_SIZE, 3))).await.expect("part 1");
    upload.put_part(Bytes::from_static(b"tail")).await.expect("part 2");
    upload.abort().await.expect("abort");

    assert_not_found(b.store.as_ref(), key).await;
    assert_eq!(b.store.list("").await.expect("list"), Vec::<String>::new());
    assert_eq!(b.leftovers().await, Vec::<String>::new());
}

async fn dropped_upload_leaves_nothing_behind(b: &Backend) {
    let key = "dropped/object.bin";
    let mut upload = b.store.start_upload(key).await.expect("start upload");
    upload.put_part(Bytes::from(pseudo_random(MIN_PART_SIZE, 4))).await.expect("part 1");
    drop(upload);

    assert_not_found(b.store.as_ref(), key).await;
    assert_eq!(b.leftovers_after_settling().await, Vec::<String>::new());
}

async fn upload_is_invisible_until_completed(b: &Backend) {
    let key = "pending/object.bin";
    let data = pseudo_random(MIN_PART_SIZE + 1000, 5);
    let (first, second) = data.split_at(MIN_PART_SIZE);
    let mut upload = b.store.start_upload(key).await.expect("start upload");
    // Both parts in flight at once: they may land in either order.
    let part1 = upload.put_part(Bytes::copy_from_slice(first));
    let part2 = upload.put_part(Bytes::copy_from_slice(second));
    let (r2, r1) = tokio::join!(part2, part1);
    r1.expect("part 1");
    r2.expect("part 2");

    assert_not_found(b.store.as_ref(), key).await;
    assert_eq!(b.store.list("").await.expect("list"), Vec::<String>::new());
    assert_eq!(b.store.list("pending/").await.expect("list prefix"), Vec::<String>::new());
    assert!(!b.leftovers().await.is_empty(), "the leftovers probe should see the open upload");

    upload.complete().await.expect("complete");
    assert_same_bytes(&b.store.get_bytes(key).await.expect("get"), &data, key);
    assert_eq!(b.store.list("pending/").await.expect("list prefix"), [key]);
    assert_eq!(b.leftovers().await, Vec::<String>::new());
}

async fn list_returns_sorted_relative_keys_under_the_prefix_only(b: &Backend) {
    for key in ["b/2", "a/2", "top", "a/1", "ab/1", "a/sub/3"] {
        b.store.put(key, Bytes::from(key.to_string())).await.expect("put");
    }
    b.sibling.put("a/outside-the-root", Bytes::from_static(b"x")).await.expect("put sibling");

    let list = |prefix: &'static str| async move { b.store.list(prefix).await.expect("list") };
    assert_eq!(list("").await, ["a/1", "a/2", "a/sub/3", "ab/1", "b/2", "top"]);
    assert_eq!(list("a/").await, ["a/1", "a/2", "a/sub/3"]);
    assert_eq!(list("a").await, ["a/1", "a/2", "a/sub/3", "ab/1"]);
    assert_eq!(list("a/s").await, ["a/sub/3"]);
    assert_eq!(list("a/sub/3").await, ["a/sub/3"]);
    assert_eq!(list("nothing/").await, Vec::<String>::new());
    assert_eq!(b.sibling.list("").await.expect("list sibling"), ["a/outside-the-root"]);
}

async fn get_of_a_missing_key_is_not_found_naming_the_key(b: &Backend) {
    assert_not_found(b.store.as_ref(), "db/no-such-backup/manifest.json").await;
    let url = b.store.url("db/no-such-backup/manifest.json");
    let message = b
        .store
        .get_bytes("db/no-such-backup/manifest.json")
        .await
        .expect_err("missing")
        .to_string();
    assert!(message.contains(&url), "error '{message}' should name {url}");
}

async fn deleted_object_is_not_found_and_deleting_a_missing_key_is_ok(b: &Backend) {
    b.store.put("doomed", Bytes::from_static(b"bye")).await.expect("put");
    b.store.delete("doomed").await.expect("delete");
    assert_not_found(b.store.as_ref(), "doomed").await;
    assert_eq!(b.store.list("").await.expect("list"), Vec::<String>::new());
    b.store.delete("doomed").await.expect("delete again");
    b.store.delete("never/existed").await.expect("delete missing");
}

async fn keys_with_unicode_and_spaces_round_trip(b: &Backend) {
    let keys = ["données/tâble with spaces/日本語 (1).copy.zst", "odd/a+b=c&d %41 ~ü.tsv"];
    for key in keys {
        b.store.put(key, Bytes::from(key.as_bytes().to_vec())).await.expect("put");
    }
    for key in keys {
        assert_eq!(b.store.get_bytes(key).await.expect("get"), key.as_bytes());
    }
    let mut sorted = keys.map(str::to_string).to_vec();
    sorted.sort();
    assert_eq!(b.store.list("").await.expect("list"), sorted);
    assert_eq!(b.store.list("données/").await.expect("list unicode prefix"), [keys[0]]);
}

async fn keys_that_leave_the_root_are_rejected(b: &Backend) {
    for key in ["", "/etc/passwd", "../up", "a/../../up", "a//b", "a/./b", "trailing/"] {
        let put = b.store.put(key, Bytes::new()).await;
        assert!(matches!(put, Err(Error::InvalidInput { .. })), "put '{key}': {put:?}");
        let get = b.store.get(key).await.err();
        assert!(matches!(get, Some(Error::InvalidInput { .. })), "get '{key}': {get:?}");
    }
    let list = b.store.list("../").await;
    assert!(matches!(list, Err(Error::InvalidInput { .. })), "list '../': {list:?}");
}

/// A wrong bucket is a configuration error to report, not a missing object to shrug at.
#[tokio::test]
async fn s3_get_from_a_missing_bucket_is_a_store_error_naming_the_bucket() {
    let (config, options, _) = s3_test_config().await;
    let bucket = format!("no-such-bucket-{:016x}", rand::random::<u64>());
    let location = Location::S3 { bucket: bucket.clone(), prefix: "x".into() };
    let store = S3Store::with_sdk_config(location, &config, &options).expect("open");
    match store.get("manifest.json").await {
        Err(Error::Store { key, message }) => {
            assert!(key.contains(&bucket), "key {key} should name the bucket");
            assert!(message.contains("NoSuchBucket"), "message: {message}");
        }
        Err(other) => panic!("expected a store error, got: {other}"),
        Ok(_) => panic!("got an object from a bucket that does not exist"),
    }
}

/// Run each check against every backend, as `local::<check>` and `s3::<check>`.
macro_rules! conformance {
    ($($check:ident),* $(,)?) => {
        mod local {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $check() {
                    super::$check(&super::Backend::local().await).await;
                }
            )*
        }
        mod s3 {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $check() {
                    super::$check(&super::Backend::s3().await).await;
                }
            )*
        }
    };
}

conformance!(
    put_then_get_round_trips_bytes_including_empty_objects,
    put_replaces_an_existing_object,
    part_writer_with_three_parts_round_trips_byte_exact,
    part_writer_below_one_part_uses_a_single_put,
    aborted_upload_leaves_nothing_visible,
    dropped_upload_leaves_nothing_behind,
    upload_is_invisible_until_completed,
    list_returns_sorted_relative_keys_under_the_prefix_only,
    get_of_a_missing_key_is_not_found_naming_the_key,
    deleted_object_is_not_found_and_deleting_a_missing_key_is_ok,
    keys_with_unicode_and_spaces_round_trip,
    keys_that_leave_the_root_are_rejected,
);
