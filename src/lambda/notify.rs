//! What a run tells the world besides its result: one CloudWatch Embedded Metric Format record on
//! stdout (CloudWatch turns it into metrics without any API call or permission), and, when a topic
//! is configured, an SNS message on success and on failure.

use serde_json::{Value, json};

use crate::error::Error;

/// The metrics namespace the template's alarms read.
pub const NAMESPACE: &str = "streamdump";

/// The figures of one run; zero where a failed run got no figures.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Figures {
    pub tables: u64,
    pub rows: u64,
    pub raw_bytes: u64,
    pub stored_bytes: u64,
    pub duration_secs: f64,
}

/// One EMF record: dimension sets `[Function]` and `[Function, Database]`, so an alarm can watch a
/// function whatever the database, and a dashboard can split by database.
pub fn emf_record(
    function: &str,
    database: &str,
    succeeded: bool,
    figures: &Figures,
    timestamp_ms: i64,
) -> Value {
    let metric = |name: &str, unit: &str| json!({"Name": name, "Unit": unit});
    json!({
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [["Function"], ["Function", "Database"]],
                "Metrics": [
                    metric("Success", "Count"),
                    metric("Failure", "Count"),
                    metric("Tables", "Count"),
                    metric("Rows", "Count"),
                    metric("RawBytes", "Bytes"),
                    metric("StoredBytes", "Bytes"),
                    metric("DurationSeconds", "Seconds"),
                ]
            }]
        },
        "Function": function,
        "Database": database,
        "Success": u8::from(succeeded),
        "Failure": u8::from(!succeeded),
        "Tables": figures.tables,
        "Rows": figures.rows,
        "RawBytes": figures.raw_bytes,
        "StoredBytes": figures.stored_bytes,
        "DurationSeconds": figures.duration_secs,
    })
}

/// The SNS subject (at most 100 printable ASCII characters, as SNS requires) and message body.
pub fn message(
    function: &str,
    database: &str,
    request_id: &str,
    outcome: std::result::Result<&Value, &Error>,
) -> (String, String) {
    let (status, body) = match outcome {
        Ok(report) => ("succeeded", json!({"status": "succeeded", "report": report})),
        Err(e) => (
            "FAILED",
            json!({"status": "failed", "error": {"type": e.kind(), "message": e.to_string()}}),
        ),
    };
    let mut body = body;
    if let Some(object) = body.as_object_mut() {
        object.insert("function".into(), json!(function));
        object.insert("database".into(), json!(database));
        object.insert("request_id".into(), json!(request_id));
    }
    let subject: String = format!("streamdump {function} {status}: {database}")
        .chars()
        .map(|c| if c.is_ascii_graphic() || c == ' ' { c } else { '?' })
        .take(100)
        .collect();
    (subject, serde_json::to_string_pretty(&body).unwrap_or_else(|_| body.to_string()))
}

/// Publish to the topic; a failure to notify is logged, never turned into a failed run.
pub async fn publish(client: &aws_sdk_sns::Client, topic_arn: &str, subject: &str, body: &str) {
    let sent = client.publish().topic_arn(topic_arn).subject(subject).message(body).send().await;
    match sent {
        Ok(_) => tracing::info!(topic = topic_arn, "notification sent"),
        Err(e) => {
            let error = crate::store::describe_aws_error(&e);
            tracing::warn!(topic = topic_arn, %error, "could not send the notification")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emf_record_declares_every_metric_it_carries() {
        let figures = Figures {
            tables: 3,
            rows: 1200,
            raw_bytes: 5000,
            stored_bytes: 900,
            duration_secs: 1.5,
        };
        let record = emf_record("backup", "shop", true, &figures, 1_700_000_000_000);
        let declared = &record["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(declared["Namespace"], "streamdump");
        for metric in declared["Metrics"].as_array().unwrap() {
            let name = metric["Name"].as_str().unwrap();
            assert!(record[name].is_number(), "{name} is declared but has no value");
        }
        for set in declared["Dimensions"].as_array().unwrap() {
            for dimension in set.as_array().unwrap() {
                assert!(record[dimension.as_str().unwrap()].is_string());
            }
        }
        assert_eq!((record["Success"].as_u64(), record["Failure"].as_u64()), (Some(1), Some(0)));
        assert_eq!(record["Rows"], 1200);
        let failed = emf_record("backup", "shop", false, &Figures::default(), 0);
        assert_eq!((failed["Success"].as_u64(), failed["Failure"].as_u64()), (Some(0), Some(1)));
    }

    #[test]
    fn messages_name_the_outcome() {
        let report = json!({"backup_id": "x", "rows": 5});
        let (subject, body) = message("backup", "shop", "req-1", Ok(&report));
        assert_eq!(subject, "streamdump backup succeeded: shop");
        let body: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["report"]["rows"], 5);
        assert_eq!(body["request_id"], "req-1");

        let error = Error::DeadlineReached { progress: "after 1 of 4 tables".into() };
        let long_name = "ü".repeat(200);
        let (subject, body) = message("backup", &long_name, "req-2", Err(&error));
        assert!(subject.starts_with("streamdump backup FAILED: ?") && subject.len() == 100);
        let body: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["error"]["type"], "DeadlineReached");
    }
}
