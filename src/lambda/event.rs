//! The events the two functions accept, parsed field by field so that an unknown field or a
//! value of the wrong type is rejected with an error naming it (serde's own messages do not name
//! the field, and could quote a value that is a secret).
//!
//! Backup:
//! - an EventBridge scheduled event, or `{}`: back up with the environment's defaults;
//! - `{"schema": "sales"}`: that one schema, on demand;
//! - a full request: `schema` | `schemas`, `database`, `exclude_tables`, `destination`, `jobs`,
//!   `zstd_level`;
//! - from the HTTPS endpoint: `{"api": {"request_id": "...", "body": <request>}}`, where the
//!   request id becomes the backup id the endpoint already answered with.
//!
//! Restore: `manifest` (required), `target_secret_id` | `target_url`, `database`, `schemas`,
//! `replace`, `create`, `jobs`, `definer`, `no_owner`, `no_privileges`.

use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::plan::validate_backup_id;

/// How a backup was asked for (reported and logged).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    Schedule,
    OnDemand,
    Api,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Schedule => "schedule",
            Trigger::OnDemand => "on-demand",
            Trigger::Api => "api",
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BackupEvent {
    /// `None`: the environment's default schemas.
    pub schemas: Option<Vec<String>>,
    pub database: Option<String>,
    pub exclude_tables: Option<Vec<String>>,
    pub destination: Option<String>,
    pub jobs: Option<usize>,
    pub zstd_level: Option<i32>,
    pub backup_id: Option<String>,
}

const BACKUP_FIELDS: &str =
    "schema, schemas, database, exclude_tables, destination, jobs, zstd_level";

/// Parse a backup function's event; returns the request and what triggered it.
pub fn parse_backup(event: &Value) -> Result<(BackupEvent, Trigger)> {
    let object = as_object("event", event)?;
    if is_scheduled(object) {
        return Ok((BackupEvent::default(), Trigger::Schedule));
    }
    if let Some(api) = object.get("api") {
        if object.len() > 1 {
            return Err(Error::invalid("event", "'api' cannot be combined with other fields"));
        }
        let api = as_object("api", api)?;
        let mut request_id = None;
        let mut body = BackupEvent::default();
        for (key, value) in api {
            match key.as_str() {
                "request_id" => request_id = Some(string("api.request_id", value)?),
                "body" if value.is_null() => {}
                "body" => body = backup_request(as_object("request body", value)?)?,
                other => return Err(unknown("api", other, "request_id, body")),
            }
        }
        let id = request_id.ok_or_else(|| Error::invalid("api", "request_id is missing"))?;
        validate_backup_id(&id)?;
        body.backup_id = Some(id);
        return Ok((body, Trigger::Api));
    }
    Ok((backup_request(object)?, Trigger::OnDemand))
}

/// An EventBridge rule's (or EventBridge Scheduler's default) scheduled event.
fn is_scheduled(object: &Map<String, Value>) -> bool {
    object.get("detail-type").and_then(Value::as_str) == Some("Scheduled Event")
        && matches!(
            object.get("source").and_then(Value::as_str),
            Some("aws.events" | "aws.scheduler")
        )
}

fn backup_request(object: &Map<String, Value>) -> Result<BackupEvent> {
    let mut event = BackupEvent::default();
    let mut schema = None;
    for (key, value) in object {
        match key.as_str() {
            "schema" => schema = Some(name("schema", value)?),
            "schemas" => event.schemas = Some(names("schemas", value)?),
            "database" => event.database = Some(name("database", value)?),
            "exclude_tables" => event.exclude_tables = Some(names("exclude_tables", value)?),
            "destination" => event.destination = Some(string("destination", value)?),
            "jobs" => event.jobs = Some(count("jobs", value)?),
            "zstd_level" => {
                let level = count("zstd_level", value)?;
                event.zstd_level = Some(i32::try_from(level).map_err(|_| {
                    Error::invalid("zstd_level", format!("{level} is outside 1..=19"))
                })?);
            }
            other => return Err(unknown("event", other, BACKUP_FIELDS)),
        }
    }
    if let Some(schema) = schema {
        if event.schemas.is_some() {
            return Err(Error::invalid("event", "give either 'schema' or 'schemas', not both"));
        }
        event.schemas = Some(vec![schema]);
    }
    if event.schemas.as_ref().is_some_and(Vec::is_empty) {
        return Err(Error::invalid("schemas", "is empty; leave it out to back up every schema"));
    }
    Ok(event)
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RestoreEvent {
    pub manifest: String,
    pub target_secret_id: Option<String>,
    /// A connection URL; may hold a password, so it is never logged or echoed.
    pub target_url: Option<String>,
    pub database: Option<String>,
    pub schemas: Option<Vec<String>>,
    pub replace: bool,
    pub create: bool,
    pub jobs: Option<usize>,
    /// MySQL: keep, current or user@host.
    pub definer: Option<String>,
    /// Leave out `ALTER ... OWNER TO` (`--no-owner`).
    pub no_owner: bool,
    /// Leave out `GRANT`, `REVOKE` and default privileges (`--no-privileges`).
    pub no_privileges: bool,
}

const RESTORE_FIELDS: &str = "manifest, target_secret_id, target_url, database, schemas, \
                              replace, create, jobs, definer, no_owner, no_privileges";

pub fn parse_restore(event: &Value) -> Result<RestoreEvent> {
    let object = as_object("event", event)?;
    let mut restore = RestoreEvent::default();
    let mut manifest = None;
    for (key, value) in object {
        match key.as_str() {
            "manifest" => manifest = Some(string("manifest", value)?),
            "target_secret_id" => restore.target_secret_id = Some(string(key, value)?),
            "target_url" => restore.target_url = Some(string(key, value)?),
            "database" => restore.database = Some(name("database", value)?),
            "schemas" => restore.schemas = Some(names("schemas", value)?),
            "replace" => restore.replace = boolean("replace", value)?,
            "create" => restore.create = boolean("create", value)?,
            "jobs" => restore.jobs = Some(count("jobs", value)?),
            "definer" => restore.definer = Some(string("definer", value)?),
            "no_owner" => restore.no_owner = boolean("no_owner", value)?,
            "no_privileges" => restore.no_privileges = boolean("no_privileges", value)?,
            other => return Err(unknown("event", other, RESTORE_FIELDS)),
        }
    }
    restore.manifest = manifest.ok_or_else(|| {
        Error::invalid("event", "'manifest' is missing: the URL of the backup's manifest.json")
    })?;
    if restore.target_secret_id.is_some() && restore.target_url.is_some() {
        return Err(Error::invalid(
            "event",
            "give either 'target_secret_id' or 'target_url', not both",
        ));
    }
    if restore.schemas.as_ref().is_some_and(Vec::is_empty) {
        return Err(Error::invalid("schemas", "is empty; leave it out to restore every schema"));
    }
    Ok(restore)
}

fn as_object<'a>(what: &str, value: &'a Value) -> Result<&'a Map<String, Value>> {
    value
        .as_object()
        .ok_or_else(|| Error::invalid(what, format!("expected a JSON object, got {}", kind(value))))
}

fn unknown(what: &str, field: &str, known: &str) -> Error {
    Error::invalid(format!("{what} field '{field}'"), format!("unknown field (known: {known})"))
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn string(field: &str, value: &Value) -> Result<String> {
    match value {
        Value::String(s) if !s.trim().is_empty() => Ok(s.clone()),
        Value::String(_) => Err(Error::invalid(field, "is empty")),
        other => Err(Error::invalid(field, format!("expected a string, got {}", kind(other)))),
    }
}

/// A schema, table or database name: a non-empty string without NUL.
fn name(field: &str, value: &Value) -> Result<String> {
    let s = string(field, value)?;
    if s.contains('\0') {
        return Err(Error::invalid(field, "contains a NUL character"));
    }
    Ok(s)
}

fn names(field: &str, value: &Value) -> Result<Vec<String>> {
    let Value::Array(items) = value else {
        return Err(Error::invalid(
            field,
            format!("expected an array of strings, got {}", kind(value)),
        ));
    };
    items.iter().enumerate().map(|(i, item)| name(&format!("{field}[{i}]"), item)).collect()
}

fn count(field: &str, value: &Value) -> Result<usize> {
    value.as_u64().and_then(|n| usize::try_from(n).ok()).ok_or_else(|| {
        Error::invalid(field, format!("expected a non-negative integer, got {}", kind(value)))
    })
}

fn boolean(field: &str, value: &Value) -> Result<bool> {
    value.as_bool().ok_or_else(|| {
        Error::invalid(field, format!("expected true or false, got {}", kind(value)))
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn backup_err(event: Value) -> String {
        parse_backup(&event).map(|_| ()).unwrap_err().to_string()
    }

    #[test]
    fn scheduled_and_empty_events_use_the_defaults() {
        let scheduled = json!({
            "version": "0", "id": "53dc4d37", "detail-type": "Scheduled Event",
            "source": "aws.events", "account": "123456789012", "time": "2026-11-26T03:00:00Z",
            "region": "eu-west-1", "resources": ["arn:aws:events:eu-west-1:123456789012:rule/x"],
            "detail": {}
        });
        assert_eq!(parse_backup(&scheduled).unwrap(), (BackupEvent::default(), Trigger::Schedule));
        assert_eq!(parse_backup(&json!({})).unwrap(), (BackupEvent::default(), Trigger::OnDemand));
    }

    #[test]
    fn one_schema_on_demand_and_full_requests() {
        let (event, trigger) = parse_backup(&json!({"schema": "sales"})).unwrap();
        assert_eq!((event.schemas, trigger), (Some(vec!["sales".into()]), Trigger::OnDemand));
        let (event, _) = parse_backup(&json!({
            "schemas": ["a", "b"], "database": "shop", "exclude_tables": ["a.logs"],
            "destination": "s3://bucket/x", "jobs": 4, "zstd_level": 3
        }))
        .unwrap();
        assert_eq!(event.schemas, Some(vec!["a".to_string(), "b".to_string()]));
        assert_eq!((event.jobs, event.zstd_level), (Some(4), Some(3)));
        assert_eq!(event.database.as_deref(), Some("shop"));
    }

    #[test]
    fn api_envelope_carries_the_backup_id() {
        let (event, trigger) = parse_backup(&json!({
            "api": {"request_id": "c0ffee-12", "body": {"schema": "hr"}}
        }))
        .unwrap();
        assert_eq!(trigger, Trigger::Api);
        assert_eq!(event.backup_id.as_deref(), Some("c0ffee-12"));
        assert_eq!(event.schemas, Some(vec!["hr".to_string()]));
        let err = backup_err(json!({"api": {"request_id": "../x", "body": {}}}));
        assert!(err.contains("backup id '../x'"), "{err}");
        let err = backup_err(json!({"api": {"request_id": "a", "body": {"backup_id": "b"}}}));
        assert!(err.contains("'backup_id'"), "{err}");
    }

    #[test]
    fn bad_backup_events_name_the_field() {
        for (event, expected) in [
            (json!({"schemass": ["x"]}), "event field 'schemass'"),
            (json!({"schema": 5}), "schema: expected a string, got a number"),
            (json!({"schema": ""}), "schema: is empty"),
            (json!({"schemas": "sales"}), "schemas: expected an array"),
            (json!({"schemas": ["ok", 1]}), "schemas[1]"),
            (json!({"schemas": []}), "schemas: is empty"),
            (json!({"schema": "a", "schemas": ["b"]}), "not both"),
            (json!({"jobs": -1}), "jobs: expected a non-negative integer"),
            (json!({"jobs": "2"}), "jobs: expected a non-negative integer, got a string"),
            (json!({"zstd_level": 99999999999u64}), "zstd_level"),
            (json!(["schema"]), "expected a JSON object, got an array"),
            (json!("sales"), "expected a JSON object, got a string"),
        ] {
            let err = backup_err(event.clone());
            assert!(err.contains(expected), "{event}: {err}");
            assert!(err.starts_with("invalid "), "{err}");
        }
    }

    #[test]
    fn restore_events() {
        let event = parse_restore(&json!({
            "manifest": "s3://b/p/db/id/manifest.json", "target_secret_id": "prod-copy",
            "database": "restored", "replace": true, "jobs": 3
        }))
        .unwrap();
        assert_eq!(event.target_secret_id.as_deref(), Some("prod-copy"));
        assert!(event.replace && !event.create);
        assert!(!event.no_owner && !event.no_privileges, "both default to false");
        let event = parse_restore(&json!({
            "manifest": "s3://b/m.json", "no_owner": true, "no_privileges": false,
            "definer": "current"
        }))
        .unwrap();
        assert!(event.no_owner && !event.no_privileges);
        assert_eq!(event.definer.as_deref(), Some("current"));
        let event =
            parse_restore(&json!({"manifest": "s3://b/m.json", "no_privileges": true})).unwrap();
        assert!(!event.no_owner && event.no_privileges);
        for (event, expected) in [
            (json!({}), "'manifest' is missing"),
            (json!({"manifest": "s3://b/m.json", "overwrite": true}), "event field 'overwrite'"),
            (json!({"manifest": "s3://b/m.json", "replace": "yes"}), "replace: expected true"),
            (
                json!({"manifest": "s3://b/m.json", "no_owner": "true"}),
                "no_owner: expected true or false, got a string",
            ),
            (
                json!({"manifest": "s3://b/m.json", "no_privileges": 1}),
                "no_privileges: expected true or false, got a number",
            ),
            (json!({"manifest": "s3://b/m.json", "no_owner": null}), "no_owner: expected true"),
            (json!({"manifest": "s3://b/m.json", "no-owner": true}), "no_owner, no_privileges"),
            (
                json!({"manifest": "s3://b/m.json", "target_url": "postgres://u:pw@h/d",
                       "target_secret_id": "s"}),
                "not both",
            ),
        ] {
            let err = parse_restore(&event).map(|_| ()).unwrap_err().to_string();
            assert!(err.contains(expected), "{event}: {err}");
            assert!(!err.contains("pw@"), "{err}");
        }
    }
}
