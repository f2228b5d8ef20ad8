//! S3 uploads under injected faults: a proxy between `S3Store` and the local SeaweedFS server
//! answers chosen UploadPart requests with `503 Slow Down`, and the tests check the result
//! directly on the server.
//!
//! Transient throttling must be absorbed by the SDK's retry (parts are in-memory `Bytes`, so they
//! can be resent) and leave a byte-exact object. Persistent failure must surface as an error that
//! names the object, after the multipart upload was aborted: no object, no open upload.
//!
//! Needs the S3 test server (`scripts/dev.sh up`); fails, not skips, without it. The same
//! environment variables as the conformance suite apply: `STREAMDUMP_TEST_S3_ENDPOINT`,
//! `STREAMDUMP_TEST_S3_BUCKET`, and `AWS_*` credentials (default `testkey`/`testsecret`).

#[path = "util/faultproxy.rs"]
mod faultproxy;

use std::sync::Arc;
use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_s3::config::Credentials;
use faultproxy::{FaultPolicy, FaultProxy};
use streamdump::Error;
use streamdump::store::{
    Location, MIN_PART_SIZE, PartWriter, S3Options, S3Store, Store, StoreOptions,
};

const MIB: usize = 1024 * 1024;
/// Generous: the SDK backs off up to a few seconds between attempts.
const TEST_DEADLINE: Duration = Duration::from_secs(120);

/// The S3 test server and how to reach it.
struct Server {
    endpoint: String,
    /// `host:port`, for the proxy.
    address: String,
    bucket: String,
    config: SdkConfig,
}

impl Server {
    /// Connect to the test server (creating the bucket if missing); panics, naming the fix, if it
    /// is not running.
    async fn connect() -> Server {
        let var = |name: &str, default: &str| {
            std::env::var(name)
                .ok()
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| default.to_string())
        };
        let endpoint = var("STREAMDUMP_TEST_S3_ENDPOINT", "http://127.0.0.1:18333");
        let bucket = var("STREAMDUMP_TEST_S3_BUCKET", "streamdump-test");
        let url = url::Url::parse(&endpoint).expect("STREAMDUMP_TEST_S3_ENDPOINT is a URL");
        let address = format!(
            "{}:{}",
            url.host_str().expect("endpoint has a host"),
            url.port_or_known_default().expect("endpoint has a port")
        );
        if let Err(e) = tokio::net::TcpStream::connect(&address).await {
            panic!(
                "the S3 test server at {endpoint} is not reachable ({e}): start it with \
                 `scripts/dev.sh up` (or point STREAMDUMP_TEST_S3_ENDPOINT at one)"
            );
        }
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
        let client = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&config)
                .endpoint_url(&endpoint)
                .force_path_style(true)
                .build(),
        );
        if let Err(e) = client.create_bucket().bucket(&bucket).send().await
            && let Err(head) = client.head_bucket().bucket(&bucket).send().await
        {
            panic!(
                "cannot create or reach bucket {bucket} at {endpoint}: {}; {}",
                aws_sdk_s3::error::DisplayErrorContext(&e),
                aws_sdk_s3::error::DisplayErrorContext(&head)
            );
        }
        Server { endpoint, address, bucket, config }
    }

    /// A store under a fresh prefix, talking to `endpoint`.
    fn store(&self, prefix: &str, endpoint: &str) -> S3Store {
        let location = Location::S3 { bucket: self.bucket.clone(), prefix: prefix.to_string() };
        let options = S3Options {
            path_style: true,
            endpoint: Some(endpoint.to_string()),
            ..S3Options::default()
        };
        S3Store::with_sdk_config(location, &self.config, &options).expect("open S3 store")
    }
}

fn unique_prefix() -> String {
    format!("s3-faults/{:016x}", rand::random::<u64>())
}

/// Deterministic incompressible bytes (splitmix64).
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

fn part_options() -> StoreOptions {
    StoreOptions { part_size: MIN_PART_SIZE, parts_in_flight: 3, ..StoreOptions::default() }
}

/// Write `data` through a PartWriter in 1 MiB pieces; the first error, if any.
async fn write_all(store: Arc<dyn Store>, key: &str, data: &[u8]) -> streamdump::Result<()> {
    let mut writer = PartWriter::new(store, key, &part_options());
    for chunk in data.chunks(MIB) {
        writer.write(chunk).await?;
    }
    writer.finish().await
}

/// A fault proxy with `policy` in front of the server, a store under a fresh prefix through it,
/// and the same store straight to the server (to see what really arrived).
async fn behind_proxy(policy: FaultPolicy) -> (FaultProxy, Arc<dyn Store>, S3Store) {
    let server = Server::connect().await;
    let proxy = FaultProxy::start(&server.address, policy).await.expect("start proxy");
    let prefix = unique_prefix();
    let through_proxy: Arc<dyn Store> = Arc::new(server.store(&prefix, &proxy.endpoint()));
    let direct = server.store(&prefix, &server.endpoint);
    (proxy, through_proxy, direct)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_part_failures_are_retried_and_succeed() {
    tokio::time::timeout(TEST_DEADLINE, async {
        let (proxy, through_proxy, direct) =
            behind_proxy(FaultPolicy::FailParts { first_n: 2 }).await;
        let key = "db/data/public/orders/000000.copy.zst";
        // 16 MiB and a bit in 5 MiB parts: 4 parts, the first two attempts throttled.
        let data = pseudo_random(16 * MIB + 777, 11);

        write_all(through_proxy, key, &data).await.expect("upload despite transient 503s");

        assert_eq!(proxy.injected_faults(), 2, "faults injected");
        // Every part, retries included, carried its own SHA-256 for the server to check.
        let parts: Vec<_> = proxy.puts().into_iter().filter(|p| p.upload_part).collect();
        assert_eq!(parts.len(), 6, "4 parts plus 2 retried attempts: {parts:?}");
        for part in &parts {
            assert_eq!(
                part.checksum_sha256.as_deref(),
                Some(part.body_sha256.as_str()),
                "{part:?}"
            );
        }
        let stored = direct.get_bytes(key).await.expect("read back directly from the server");
        assert!(
            stored == data,
            "stored object differs: {} bytes, want {}",
            stored.len(),
            data.len()
        );
        assert_eq!(
            direct.list_multipart_uploads().await.expect("list uploads"),
            Vec::<String>::new()
        );
    })
    .await
    .expect("test finished within its deadline");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persistent_part_failure_aborts_upload_and_leaves_nothing() {
    tokio::time::timeout(TEST_DEADLINE, async {
        let (proxy, through_proxy, direct) = behind_proxy(FaultPolicy::FailAllParts).await;
        let key = "db/data/public/orders/000000.copy.zst";
        let data = pseudo_random(16 * MIB, 12);

        let error =
            write_all(through_proxy.clone(), key, &data).await.expect_err("every part fails");

        let url = through_proxy.url(key);
        assert!(matches!(error, Error::Store { .. }), "expected a store error, got: {error}");
        assert!(error.to_string().contains(&url), "error '{error}' should name {url}");
        assert!(error.to_string().contains("SlowDown"), "error '{error}' should say why");
        // Each part is tried the SDK's default 3 times before the upload gives up.
        assert!(proxy.injected_faults() >= 3, "only {} faults injected", proxy.injected_faults());
        match direct.get(key).await {
            Err(Error::NotFound { .. }) => {}
            Ok(_) => panic!("{url} exists after a failed upload"),
            Err(other) => panic!("get {url}: expected NotFound, got: {other}"),
        }
        assert_eq!(direct.list("").await.expect("list"), Vec::<String>::new());
        assert_eq!(
            direct.list_multipart_uploads().await.expect("list uploads"),
            Vec::<String>::new()
        );
    })
    .await
    .expect("test finished within its deadline");
}
