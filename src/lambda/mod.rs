//! The AWS Lambda functions `backup` and `restore`: configuration from the environment
//! ([`config`]), events ([`event`]), credentials from Secrets Manager ([`secret`]), metrics and
//! notifications ([`notify`]), and the handlers ([`handle_backup`], [`handle_restore`]), which are
//! plain async functions tests call directly. [`main`] is the thin glue to `lambda_runtime` that
//! both binaries use.

pub mod config;
pub mod event;
mod handler;
pub mod notify;
pub mod secret;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use serde_json::Value;

pub use handler::{Deps, Invocation, handle_backup, handle_restore};

use crate::error::Error;

/// Which function a binary is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    Backup,
    Restore,
}

impl Function {
    pub fn name(self) -> &'static str {
        match self {
            Function::Backup => "backup",
            Function::Restore => "restore",
        }
    }
}

/// The error as Lambda reports it: `errorType` is the stable kind a caller routes on.
fn diagnostic(e: &Error) -> Diagnostic {
    Diagnostic { error_type: e.kind().to_string(), error_message: e.to_string() }
}

/// Lambda sends the deadline as milliseconds since the epoch. cargo-lambda's emulator (1.9)
/// sends the function's timeout instead (`600000`); a value before 2001 cannot be a real
/// deadline, so it is read as a duration from now rather than as a deadline long past.
fn deadline(deadline_ms: u64) -> SystemTime {
    const PLAUSIBLE_EPOCH_MS: u64 = 1_000_000_000_000;
    if deadline_ms < PLAUSIBLE_EPOCH_MS {
        tracing::debug!(deadline_ms, "deadline is not an epoch time; reading it as a timeout");
        SystemTime::now() + Duration::from_millis(deadline_ms)
    } else {
        SystemTime::UNIX_EPOCH + Duration::from_millis(deadline_ms)
    }
}

/// The whole life of a function process: allocator tuning, JSON logs when
/// `AWS_LAMBDA_LOG_FORMAT=JSON`, configuration and clients built once, then the runtime loop.
/// A configuration error does not crash the process: every invocation reports it, so it reaches
/// the on-failure destination and the caller.
pub fn main(function: Function) -> Result<(), lambda_runtime::Error> {
    crate::bound_allocator_memory();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        lambda_runtime::tracing::init_default_subscriber();
        let deps = Arc::new(Deps::from_env(function.name()).await.inspect_err(|e| {
            tracing::error!(error = %e, "configuration error: every invocation will fail");
        }));
        lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
            let deps = deps.clone();
            async move {
                let deps = match deps.as_ref() {
                    Ok(deps) => deps,
                    Err(e) => return Err(diagnostic(e)),
                };
                let invocation = Invocation {
                    request_id: event.context.request_id.clone(),
                    deadline: deadline(event.context.deadline),
                };
                let report = match function {
                    Function::Backup => handle_backup(&event.payload, &invocation, deps)
                        .await
                        .map(|r| serde_json::to_value(r).unwrap_or(Value::Null)),
                    Function::Restore => handle_restore(&event.payload, &invocation, deps)
                        .await
                        .map(|r| serde_json::to_value(r).unwrap_or(Value::Null)),
                };
                report.map_err(|e| diagnostic(&e))
            }
        }))
        .await
    })
}
