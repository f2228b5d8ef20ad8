//! Server-side encryption options reach S3: a backup written with the default (`--sse s3`) and
//! one written with `--sse kms --kms-key-id K` are stored encrypted as asked, every object of
//! them (single `PutObject`s and multipart uploads alike). Checked with `HeadObject` on moto's
//! S3, which records and reports the encryption; SeaweedFS does not report it.

mod util;

#[path = "util/aws.rs"]
mod aws;

use aws::{aws, moto_endpoint};
use serde_json::Value;

/// Every key under `prefix` in `bucket`, from moto.
fn keys_under(bucket: &str, prefix: &str) -> Vec<String> {
    let listed = aws(&["s3api", "list-objects-v2", "--bucket", bucket, "--prefix", prefix]);
    listed["Contents"]
        .as_array()
        .map(|objects| {
            objects.iter().filter_map(|o| o["Key"].as_str().map(str::to_string)).collect()
        })
        .unwrap_or_default()
}

#[test]
fn every_object_is_stored_with_the_requested_encryption() {
    let source = util::fresh_db("sse");
    // `big` is ~21 MiB of COPY text, ~11 MiB after zstd: more than one 5 MiB part.
    util::psql_script(
        &source,
        "CREATE TABLE big AS SELECT i, md5(random()::text) || md5(random()::text) || \
           md5(random()::text) AS noise FROM generate_series(1, 200000) i;
         CREATE TABLE small (k text PRIMARY KEY, v text);
         INSERT INTO small VALUES ('a', 'b');",
    );
    let bucket = format!("sse-{}", std::process::id());
    aws(&["s3api", "create-bucket", "--bucket", &bucket]);
    let created: Value = aws(&["kms", "create-key", "--description", "streamdump sse test"]);
    let key_id = created["KeyMetadata"]["KeyId"].as_str().expect("KMS key id").to_string();
    let key_arn = created["KeyMetadata"]["Arn"].as_str().expect("KMS key ARN").to_string();

    let url = util::pg_url(&source);
    let endpoint = moto_endpoint();
    let cases: [(&str, &[&str], &str); 2] = [
        ("default", &[], "AES256"),
        ("kms", &["--sse", "kms", "--kms-key-id", &key_id], "aws:kms"),
    ];
    for (name, extra, expected) in cases {
        let prefix = format!("{name}/");
        let to = format!("s3://{bucket}/{name}");
        let mut args = vec![
            "backup",
            "--source",
            &url,
            "--to",
            &to,
            "--endpoint",
            &endpoint,
            "--path-style",
            "--part-size",
            "5MiB",
            "--json",
        ];
        args.extend_from_slice(extra);
        let report = util::streamdump_json(&args);
        assert!(report["backup_id"].is_string(), "{report}");

        let keys = keys_under(&bucket, &prefix);
        assert!(keys.iter().any(|k| k.ends_with("manifest.json")), "{name}: {keys:?}");
        assert!(keys.iter().any(|k| k.contains("/big/")), "{name}: {keys:?}");
        for key in &keys {
            let head = aws(&["s3api", "head-object", "--bucket", &bucket, "--key", key]);
            assert_eq!(head["ServerSideEncryption"], expected, "{name}: {key}: {head}");
            if expected == "aws:kms" {
                let used = head["SSEKMSKeyId"].as_str().unwrap_or_default();
                assert!(used == key_id || used == key_arn, "{name}: {key} used key '{used}'");
            }
            if key.contains("/big/") {
                // `big` went up in parts: its object is bigger than one part.
                let size = head["ContentLength"].as_u64().unwrap_or_default();
                assert!(size > 5 * 1024 * 1024, "{name}: {key} is {size} bytes, want parts");
            }
        }
    }

    util::drop_db(&source);
}
