//! The Lambda functions' configuration, read from the environment once per cold start.
//!
//! Every variable is optional except where a run needs it (a source for a backup, a destination
//! for a backup); an empty value counts as unset, because CloudFormation cannot omit a variable
//! whose parameter is empty. A malformed value is a `ConfigurationError` that names the variable.

use std::path::PathBuf;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::plan::{ConnectionUrl, parse_size};
use crate::store::{S3Options, ServerSideEncryption, StoreOptions};
use crate::tls::{TlsMode, TlsOptions};

/// Secrets Manager secret (RDS format): the backup's source, the restore's default target.
pub const SECRET_ID: &str = "STREAMDUMP_SECRET_ID";
/// A connection URL instead of a secret, for local use (the password sits in the environment).
pub const DATABASE_URL: &str = "STREAMDUMP_DATABASE_URL";
pub const DESTINATION: &str = "STREAMDUMP_DESTINATION";
pub const SCHEMAS: &str = "STREAMDUMP_SCHEMAS";
pub const EXCLUDE_TABLES: &str = "STREAMDUMP_EXCLUDE_TABLES";
pub const JOBS: &str = "STREAMDUMP_JOBS";
pub const ZSTD_LEVEL: &str = "STREAMDUMP_ZSTD_LEVEL";
pub const CHUNK_SIZE: &str = "STREAMDUMP_CHUNK_SIZE";
pub const PART_SIZE: &str = "STREAMDUMP_PART_SIZE";
pub const SSE: &str = "STREAMDUMP_SSE";
pub const KMS_KEY_ID: &str = "STREAMDUMP_KMS_KEY_ID";
pub const S3_PATH_STYLE: &str = "STREAMDUMP_S3_PATH_STYLE";
pub const SNS_TOPIC_ARN: &str = "STREAMDUMP_SNS_TOPIC_ARN";
pub const TLS_MODE: &str = "STREAMDUMP_TLS_MODE";
pub const TLS_CA_FILE: &str = "STREAMDUMP_TLS_CA_FILE";
pub const DEADLINE_MARGIN_SECS: &str = "STREAMDUMP_DEADLINE_MARGIN_SECS";

/// Default time kept free before the invocation's deadline: enough to abort the open uploads,
/// remove what was written and report.
pub const DEFAULT_DEADLINE_MARGIN: Duration = Duration::from_secs(30);

#[derive(Debug, Clone)]
pub struct Config {
    pub secret_id: Option<String>,
    /// Its `Debug` and `Display` hide the password.
    pub database_url: Option<ConnectionUrl>,
    pub destination: Option<String>,
    pub schemas: Vec<String>,
    pub exclude_tables: Vec<String>,
    pub jobs: Option<usize>,
    pub zstd_level: Option<i32>,
    pub chunk_bytes: Option<u64>,
    pub store: StoreOptions,
    pub sns_topic_arn: Option<String>,
    pub tls: TlsOptions,
    pub deadline_margin: Duration,
    /// `AWS_LAMBDA_FUNCTION_NAME`: the metrics' `Function` dimension.
    pub function_name: String,
}

impl Config {
    pub fn from_env(default_function_name: &str) -> Result<Self> {
        Self::from_lookup(default_function_name, |name| std::env::var(name).ok())
    }

    /// Read the configuration through `get` (the environment, or a map in tests).
    pub fn from_lookup(
        default_function_name: &str,
        get: impl Fn(&str) -> Option<String>,
    ) -> Result<Self> {
        let var = |name: &str| get(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        let number = |name: &str| -> Result<Option<i64>> {
            var(name)
                .map(|v| {
                    v.parse::<i64>()
                        .map_err(|_| Error::config(name, format!("'{v}' is not a whole number")))
                })
                .transpose()
        };
        let size = |name: &str| -> Result<Option<u64>> {
            var(name).map(|v| parse_size(&v).map_err(|e| Error::config(name, e))).transpose()
        };
        let list = |name: &str| -> Vec<String> {
            var(name)
                .map(|v| {
                    v.split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(String::from)
                        .collect()
                })
                .unwrap_or_default()
        };
        let non_negative = |name: &str, n: i64| -> Result<u64> {
            u64::try_from(n).map_err(|_| Error::config(name, format!("{n} is negative")))
        };

        let mut store = StoreOptions::default();
        if let Some(part) = size(PART_SIZE)? {
            store.part_size = usize::try_from(part)
                .map_err(|_| Error::config(PART_SIZE, format!("{part} bytes is too large")))?;
        }
        let sse = ServerSideEncryption::parse(var(SSE).as_deref().unwrap_or("s3"), var(KMS_KEY_ID))
            .map_err(|e| Error::config(format!("{SSE}/{KMS_KEY_ID}"), e))?;
        let path_style = match var(S3_PATH_STYLE).as_deref() {
            None | Some("false" | "0" | "no") => false,
            Some("true" | "1" | "yes") => true,
            Some(other) => {
                return Err(Error::config(
                    S3_PATH_STYLE,
                    format!("'{other}' is not true or false"),
                ));
            }
        };
        store.s3 = S3Options { path_style, sse, ..S3Options::default() };
        store.validate().map_err(|e| Error::config(PART_SIZE, e))?;

        let tls = TlsOptions {
            mode: var(TLS_MODE)
                .map(|m| m.parse::<TlsMode>().map_err(|e| Error::config(TLS_MODE, e)))
                .transpose()?
                .unwrap_or(TlsMode::VerifyFull),
            ca_file: var(TLS_CA_FILE).map(PathBuf::from),
        };
        let deadline_margin = match number(DEADLINE_MARGIN_SECS)? {
            Some(n) => Duration::from_secs(non_negative(DEADLINE_MARGIN_SECS, n)?),
            None => DEFAULT_DEADLINE_MARGIN,
        };
        let jobs = number(JOBS)?.map(|n| non_negative(JOBS, n).map(|n| n as usize)).transpose()?;
        let zstd_level = number(ZSTD_LEVEL)?
            .map(|n| i32::try_from(n).map_err(|_| Error::config(ZSTD_LEVEL, "out of range")))
            .transpose()?;
        Ok(Config {
            secret_id: var(SECRET_ID),
            database_url: var(DATABASE_URL)
                .map(|url| ConnectionUrl::parse(DATABASE_URL, &url))
                .transpose()
                .map_err(|e| Error::config(DATABASE_URL, e))?,
            destination: var(DESTINATION),
            schemas: list(SCHEMAS),
            exclude_tables: list(EXCLUDE_TABLES),
            jobs,
            zstd_level,
            chunk_bytes: size(CHUNK_SIZE)?,
            store,
            sns_topic_arn: var(SNS_TOPIC_ARN),
            tls,
            deadline_margin,
            function_name: var("AWS_LAMBDA_FUNCTION_NAME")
                .unwrap_or_else(|| default_function_name.to_string()),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<Config> {
        let map: HashMap<String, String> =
            vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_lookup("backup", |name| map.get(name).cloned())
    }

    #[test]
    fn defaults_and_lists() {
        let c = config(&[
            (SCHEMAS, " sales, ,hr "),
            (PART_SIZE, "16MiB"),
            (DEADLINE_MARGIN_SECS, "45"),
            (TLS_MODE, ""),
        ])
        .unwrap();
        assert_eq!(c.schemas, ["sales", "hr"]);
        assert_eq!(c.store.part_size, 16 << 20);
        assert_eq!(c.deadline_margin, Duration::from_secs(45));
        assert_eq!(c.tls.mode, TlsMode::VerifyFull, "an empty value counts as unset");
        assert_eq!(c.function_name, "backup");
        assert!(c.secret_id.is_none() && c.database_url.is_none());
    }

    #[test]
    fn bad_values_name_the_variable() {
        for (name, value, expected) in [
            (JOBS, "two", "STREAMDUMP_JOBS"),
            (PART_SIZE, "1KiB", "STREAMDUMP_PART_SIZE"),
            (CHUNK_SIZE, "lots", "STREAMDUMP_CHUNK_SIZE"),
            (TLS_MODE, "strict", "STREAMDUMP_TLS_MODE"),
            (SSE, "aes", "STREAMDUMP_SSE"),
            (S3_PATH_STYLE, "maybe", "STREAMDUMP_S3_PATH_STYLE"),
            (DEADLINE_MARGIN_SECS, "-5", "STREAMDUMP_DEADLINE_MARGIN_SECS"),
        ] {
            let err = config(&[(name, value)]).unwrap_err();
            assert_eq!(err.kind(), "ConfigurationError");
            assert!(err.to_string().contains(expected), "{err}");
        }
    }

    #[test]
    fn the_database_url_password_is_never_shown() {
        let c = config(&[(DATABASE_URL, "postgres://u:hunter2@h/db")]).unwrap();
        assert_eq!(c.database_url.as_ref().map(|u| u.database()), Some("db"));
        let shown = format!("{c:?}");
        assert!(shown.contains("postgres://u:***@h/db") && !shown.contains("hunter2"), "{shown}");
        let err = config(&[(DATABASE_URL, "mysqlx://u:hunter2@h/db")]).unwrap_err().to_string();
        assert!(err.contains(DATABASE_URL) && !err.contains("hunter2"), "{err}");
    }
}
