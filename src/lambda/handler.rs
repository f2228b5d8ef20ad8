//! The two handlers: plain async functions of (event, invocation, dependencies), so tests call
//! them directly and the binaries only glue them to `lambda_runtime`.
//!
//! Each run: parse and validate the whole event (nothing is contacted before that), resolve the
//! database from Secrets Manager (or a configured URL), arm the deadline watch, run, then emit one
//! EMF record and, if configured, one SNS message, whatever the outcome.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use aws_config::SdkConfig;
use serde::Serialize;
use serde_json::Value;

use super::config::{self, Config};
use super::event::{self, BackupEvent, RestoreEvent};
use super::notify::{self, Figures};
use super::secret;
use crate::backup::{self, BackupReport, Quiet};
use crate::error::{Error, Result};
use crate::plan::{BackupRequest, ConnectionUrl, RestoreRequest, Stop};
use crate::restore::{self, RestoreReport};

/// What a handler needs, built once per cold start.
pub struct Deps {
    pub config: Config,
    pub secrets: aws_sdk_secretsmanager::Client,
    pub sns: aws_sdk_sns::Client,
}

impl Deps {
    pub fn new(config: Config, sdk: &SdkConfig) -> Self {
        Deps {
            config,
            secrets: aws_sdk_secretsmanager::Client::new(sdk),
            sns: aws_sdk_sns::Client::new(sdk),
        }
    }

    /// Configuration from the environment, clients from the standard AWS environment.
    pub async fn from_env(function: &str) -> Result<Self> {
        let config = Config::from_env(function)?;
        Ok(Deps::new(config, crate::store::aws_environment().await))
    }
}

/// The invocation's identity and time limit (from the Lambda context).
#[derive(Debug, Clone)]
pub struct Invocation {
    pub request_id: String,
    pub deadline: SystemTime,
}

/// Back up as the event asks; see [`super::event`] for the events.
pub async fn handle_backup(
    event: &Value,
    invocation: &Invocation,
    deps: &Deps,
) -> Result<BackupReport> {
    let started = Instant::now();
    let mut database = None;
    let result = backup(event, invocation, deps, &mut database).await;
    finish(deps, invocation, database.as_deref(), started, result).await
}

/// Restore a manifest as the event asks.
pub async fn handle_restore(
    event: &Value,
    invocation: &Invocation,
    deps: &Deps,
) -> Result<RestoreReport> {
    let started = Instant::now();
    let mut database = None;
    let result = restore(event, invocation, deps, &mut database).await;
    finish(deps, invocation, database.as_deref(), started, result).await
}

/// Announce the outcome (metrics, notification), then hand it back.
async fn finish<T: Serialize>(
    deps: &Deps,
    invocation: &Invocation,
    database: Option<&str>,
    started: Instant,
    result: Result<T>,
) -> Result<T> {
    let report = result.as_ref().map(|r| serde_json::to_value(r).unwrap_or(Value::Null));
    let figures = match &report {
        // Backup and restore reports share these field names.
        Ok(report) => {
            let count = |name: &str| report[name].as_u64().unwrap_or_default();
            Figures {
                tables: count("tables"),
                rows: count("rows"),
                raw_bytes: count("raw_bytes"),
                stored_bytes: count("stored_bytes"),
                duration_secs: report["duration_secs"].as_f64().unwrap_or_default(),
            }
        }
        Err(_) => Figures { duration_secs: started.elapsed().as_secs_f64(), ..Figures::default() },
    };
    announce(deps, invocation, database, report.as_ref().map_err(|e| *e), &figures).await;
    result
}

async fn backup(
    event: &Value,
    invocation: &Invocation,
    deps: &Deps,
    database: &mut Option<String>,
) -> Result<BackupReport> {
    let config = &deps.config;
    let (event, trigger) = event::parse_backup(event)?;
    let request = backup_request(config, &event)?;
    // Every field is checked before anything is contacted: a stand-in source takes the place of
    // the one the secret will give.
    request.clone().plan_with(stand_in()?)?;

    let stop = Stop::default();
    let _watch = DeadlineWatch::arm(invocation.deadline, config.deadline_margin, &stop)?;
    let source = resolve_database(deps, None, event.database.as_deref()).await?;
    *database = Some(source.database().to_string());
    let plan = BackupRequest { stop: stop.clone(), ..request }.plan_with(source)?;
    tracing::info!(
        trigger = trigger.as_str(),
        source = %plan.source,
        destination = %plan.destination,
        schemas = ?plan.schemas,
        backup_id = plan.backup_id.as_deref().unwrap_or("(new)"),
        request_id = %invocation.request_id,
        "backup requested"
    );
    backup::run(&plan, Arc::new(Quiet)).await
}

fn backup_request(config: &Config, event: &BackupEvent) -> Result<BackupRequest> {
    let destination = event.destination.clone().or_else(|| config.destination.clone());
    let Some(destination) = destination else {
        return Err(Error::config(
            config::DESTINATION,
            "is not set and the request names no 'destination'",
        ));
    };
    Ok(BackupRequest {
        source: String::new(),
        destination,
        schemas: event.schemas.clone().unwrap_or_else(|| config.schemas.clone()),
        exclude_tables: event
            .exclude_tables
            .clone()
            .unwrap_or_else(|| config.exclude_tables.clone()),
        jobs: event.jobs.or(config.jobs),
        chunk_bytes: config.chunk_bytes,
        zstd_level: event.zstd_level.or(config.zstd_level),
        store: config.store.clone(),
        skip_unsupported: false,
        backup_id: event.backup_id.clone(),
        stop: Stop::default(),
    })
}

async fn restore(
    event: &Value,
    invocation: &Invocation,
    deps: &Deps,
    database: &mut Option<String>,
) -> Result<RestoreReport> {
    let config = &deps.config;
    let event = event::parse_restore(event)?;
    let request = restore_request(config, &event);
    request.clone().plan_with(stand_in()?)?;

    let stop = Stop::default();
    let _watch = DeadlineWatch::arm(invocation.deadline, config.deadline_margin, &stop)?;
    let target = match &event.target_url {
        Some(url) => {
            let url = ConnectionUrl::parse("target_url", url)?;
            match &event.database {
                Some(name) => url.with_database(name)?,
                None => url,
            }
        }
        None => {
            resolve_database(deps, event.target_secret_id.as_deref(), event.database.as_deref())
                .await?
        }
    };
    *database = Some(target.database().to_string());
    let plan = RestoreRequest { stop: stop.clone(), ..request }.plan_with(target)?;
    tracing::info!(
        manifest = %event.manifest,
        target = %plan.target,
        replace = plan.replace,
        create = plan.create,
        no_owner = plan.no_owner,
        no_privileges = plan.no_privileges,
        request_id = %invocation.request_id,
        "restore requested"
    );
    restore::run(&plan, Arc::new(Quiet)).await
}

fn restore_request(config: &Config, event: &RestoreEvent) -> RestoreRequest {
    RestoreRequest {
        from: event.manifest.clone(),
        target: String::new(),
        jobs: event.jobs.or(config.jobs),
        replace: event.replace,
        create: event.create,
        schemas: event.schemas.clone().unwrap_or_default(),
        definer: event.definer.clone(),
        no_owner: event.no_owner,
        no_privileges: event.no_privileges,
        store: config.store.clone(),
        stop: Stop::default(),
    }
}

/// A syntactically valid source that is never contacted, for validating a request early.
fn stand_in() -> Result<ConnectionUrl> {
    ConnectionUrl::parse("stand-in", "postgres://validation.invalid/stand_in")
}

/// The database to work on: the named secret, else the configured secret, else the configured
/// URL; `database` overrides the database name.
async fn resolve_database(
    deps: &Deps,
    secret_id: Option<&str>,
    database: Option<&str>,
) -> Result<ConnectionUrl> {
    let config = &deps.config;
    if let Some(id) = secret_id.or(config.secret_id.as_deref()) {
        let text = secret::fetch(&deps.secrets, id).await?;
        return secret::connection_url(id, &text, database, &config.tls);
    }
    match (&config.database_url, database) {
        (Some(url), Some(name)) => url.with_database(name),
        (Some(url), None) => Ok(url.clone()),
        (None, _) => Err(Error::config(
            config::SECRET_ID,
            format!(
                "is not set (nor {}) and the request names no target secret",
                config::DATABASE_URL
            ),
        )),
    }
}

/// Fires the run's [`Stop`] a margin before the invocation's deadline; disarmed when dropped.
struct DeadlineWatch(tokio::task::JoinHandle<()>);

impl DeadlineWatch {
    fn arm(deadline: SystemTime, margin: Duration, stop: &Stop) -> Result<Self> {
        let left = deadline.duration_since(SystemTime::now()).unwrap_or_default();
        let Some(until_stop) = left.checked_sub(margin).filter(|d| !d.is_zero()) else {
            return Err(Error::DeadlineReached {
                progress: format!(
                    "before starting: {:.1} s left, within the {} s margin ({}); nothing written",
                    left.as_secs_f64(),
                    margin.as_secs(),
                    config::DEADLINE_MARGIN_SECS
                ),
            });
        };
        let stop = stop.clone();
        Ok(DeadlineWatch(tokio::spawn(async move {
            tokio::time::sleep(until_stop).await;
            tracing::warn!(margin_secs = margin.as_secs(), "deadline near: stopping the run");
            stop.at_deadline();
        })))
    }
}

impl Drop for DeadlineWatch {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// One EMF record on stdout and, when a topic is configured, one SNS message.
async fn announce(
    deps: &Deps,
    invocation: &Invocation,
    database: Option<&str>,
    result: std::result::Result<&Value, &Error>,
    figures: &Figures,
) {
    let config = &deps.config;
    let database = database.unwrap_or("unknown");
    let now_ms = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default();
    let record =
        notify::emf_record(&config.function_name, database, result.is_ok(), figures, now_ms);
    println!("{record}");
    match result {
        Ok(_) => tracing::info!(function = %config.function_name, database, "run succeeded"),
        Err(e) => {
            tracing::error!(function = %config.function_name, database, error_type = e.kind(), error = %e, "run failed")
        }
    }
    let Some(topic) = &config.sns_topic_arn else { return };
    let (subject, body) =
        notify::message(&config.function_name, database, &invocation.request_id, result);
    notify::publish(&deps.sns, topic, &subject, &body).await;
}
