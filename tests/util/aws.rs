//! Secrets Manager, SNS and SQS on the moto test server, driven with the AWS CLI from the
//! project's venv (as a user would), and S3 checks through the library's own store.
#![allow(dead_code)]

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use streamdump::store::{Location, S3Options, S3Store, Store};

pub fn moto_endpoint() -> String {
    std::env::var("STREAMDUMP_TEST_MOTO").unwrap_or_else(|_| "http://127.0.0.1:15000".into())
}

pub fn venv_bin(name: &str) -> String {
    let venv = std::env::var("STREAMDUMP_TEST_VENV").unwrap_or_else(|_| ".venv".into());
    format!("{venv}/bin/{name}")
}

/// Run `aws <args> --output json` against moto; the parsed output (`Null` when empty).
pub fn aws(args: &[&str]) -> Value {
    let out = Command::new(venv_bin("aws"))
        .args(args)
        .args(["--endpoint-url", &moto_endpoint(), "--region", "us-east-1", "--output", "json"])
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .output()
        .expect("run the aws CLI (scripts/dev.sh install puts it in .venv)");
    assert!(out.status.success(), "aws {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    if text.trim().is_empty() { Value::Null } else { serde_json::from_str(&text).expect("JSON") }
}

/// Create a secret in the RDS format; returns its ARN.
pub fn rds_secret(name: &str, user: &str, password: &str, dbname: &str) -> String {
    let port: u16 =
        url::Url::parse(&crate::util::pg_base()).ok().and_then(|u| u.port()).unwrap_or(5432);
    engine_secret(name, "postgres", port, user, password, dbname)
}

/// A secret in the RDS format for any engine (`mariadb`, `aurora-mysql`, ...).
pub fn engine_secret(
    name: &str,
    engine: &str,
    port: u16,
    user: &str,
    password: &str,
    dbname: &str,
) -> String {
    let secret = serde_json::json!({
        "engine": engine, "host": "127.0.0.1", "port": port,
        "username": user, "password": password, "dbname": dbname,
        "dbInstanceIdentifier": "test"
    });
    let created = aws(&[
        "secretsmanager",
        "create-secret",
        "--name",
        name,
        "--secret-string",
        &secret.to_string(),
    ]);
    created["ARN"].as_str().expect("secret ARN").to_string()
}

/// An SNS topic with an SQS queue subscribed to it; returns (topic ARN, queue URL).
pub fn topic_with_queue(name: &str) -> (String, String) {
    let topic = aws(&["sns", "create-topic", "--name", name]);
    let topic = topic["TopicArn"].as_str().expect("topic ARN").to_string();
    let queue = aws(&["sqs", "create-queue", "--queue-name", name]);
    let queue_url = queue["QueueUrl"].as_str().expect("queue URL").to_string();
    let attributes = aws(&[
        "sqs",
        "get-queue-attributes",
        "--queue-url",
        &queue_url,
        "--attribute-names",
        "QueueArn",
    ]);
    let queue_arn = attributes["Attributes"]["QueueArn"].as_str().expect("queue ARN").to_string();
    aws(&[
        "sns",
        "subscribe",
        "--topic-arn",
        &topic,
        "--protocol",
        "sqs",
        "--notification-endpoint",
        &queue_arn,
    ]);
    (topic, queue_url)
}

/// Receive at least `count` notifications from the queue (waiting up to 20 s); each is the SNS
/// envelope's (Subject, parsed Message).
pub fn notifications(queue_url: &str, count: usize) -> Vec<(String, Value)> {
    let mut seen = Vec::new();
    let started = Instant::now();
    while seen.len() < count && started.elapsed() < Duration::from_secs(20) {
        let received = aws(&[
            "sqs",
            "receive-message",
            "--queue-url",
            queue_url,
            "--max-number-of-messages",
            "10",
            "--wait-time-seconds",
            "1",
        ]);
        for message in received["Messages"].as_array().into_iter().flatten() {
            let envelope: Value =
                serde_json::from_str(message["Body"].as_str().unwrap_or("{}")).expect("SNS JSON");
            let subject = envelope["Subject"].as_str().unwrap_or_default().to_string();
            let body = serde_json::from_str(envelope["Message"].as_str().unwrap_or("{}"))
                .expect("message JSON");
            seen.push((subject, body));
            aws(&[
                "sqs",
                "delete-message",
                "--queue-url",
                queue_url,
                "--receipt-handle",
                message["ReceiptHandle"].as_str().unwrap_or_default(),
            ]);
        }
    }
    seen
}

/// The S3 store at `url`, on the test server.
pub async fn s3_store(url: &str) -> S3Store {
    let location = Location::parse(url).expect("S3 URL");
    let options = S3Options {
        endpoint: Some(crate::util::s3_endpoint()),
        path_style: true,
        ..S3Options::default()
    };
    S3Store::open(location, &options).await.expect("open S3 store")
}

/// Object keys and open multipart uploads under an S3 destination.
pub async fn s3_contents(url: &str) -> (Vec<String>, Vec<String>) {
    let store = s3_store(url).await;
    let keys = store.list("").await.expect("list objects");
    let uploads = store.list_multipart_uploads().await.expect("list multipart uploads");
    (keys, uploads)
}
