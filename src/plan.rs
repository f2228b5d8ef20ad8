//! Raw requests become validated plans here, and only here.
//!
//! CLI flags (and, later, Lambda events) arrive as strings and optional numbers; a plan holds
//! parsed URLs, checked limits and defaults filled in, so the orchestrators never re-validate.
//! Connection strings are wrapped in [`ConnectionUrl`], whose `Debug` and `Display` never show
//! the password: that is how secrets stay out of logs, errors and reports.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

use crate::codec::DEFAULT_ZSTD_LEVEL;
use crate::error::{Error, Result};
use crate::store::{Location, StoreOptions};
use crate::tls::{TlsMode, TlsOptions};

/// Default size after which a table's output rolls over to the next chunk object: 1 GiB of raw
/// bytes. Large enough that most tables are one object, small enough that a chunk stays well
/// under S3's 10,000-part limit at the default part size, restores in one transaction of
/// bounded length, and is the unit a future resumable restore retries.
pub const DEFAULT_CHUNK_BYTES: u64 = 1 << 30;

/// MySQL's default chunk size: 64 MiB, MySQL Shell's. Each chunk is one `LOAD DATA`
/// transaction on restore, small enough for the undo log and Group Replication's transaction
/// limit, and chunks of one table load in parallel (41 MB restored with `--jobs 2` in 1.46 s
/// from 8 MiB chunks, 2.00 s from one chunk, here). PostgreSQL keeps 1 GiB: a table in one
/// chunk restores with `COPY FREEZE`.
pub const DEFAULT_MYSQL_CHUNK_BYTES: u64 = 64 << 20;

/// Smallest accepted chunk size (tests use small chunks to exercise rollover).
pub const MIN_CHUNK_BYTES: u64 = 1024;

/// Default number of worker connections reading tables in parallel.
pub const DEFAULT_JOBS: usize = 2;

pub const MAX_JOBS: usize = 64;

/// Database engines streamdump speaks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineKind {
    Postgres,
    /// MySQL and MariaDB.
    Mysql,
}

/// A database connection string; the password is never displayed.
#[derive(Clone)]
pub struct ConnectionUrl {
    secret: String,
    redacted: String,
    engine: EngineKind,
    database: String,
    tls: TlsOptions,
}

impl ConnectionUrl {
    pub fn parse(what: &str, raw: &str) -> Result<Self> {
        let redacted = redact_url(raw);
        let bad = |reason: String| Error::invalid(format!("{what} '{redacted}'"), reason);
        let mut url = url::Url::parse(raw).map_err(|e| bad(e.to_string()))?;
        let tls = take_tls_options(&mut url).map_err(|e| bad(e.to_string()))?;
        let engine = match url.scheme() {
            "postgres" | "postgresql" => EngineKind::Postgres,
            "mysql" | "mariadb" => EngineKind::Mysql,
            other => {
                return Err(bad(format!(
                    "unsupported scheme '{other}' (expected postgres:// or mysql://)"
                )));
            }
        };
        if url.host_str().is_none_or(str::is_empty) {
            return Err(bad("missing host".into()));
        }
        let database = url.path().trim_start_matches('/');
        let database = percent_decode(database);
        if database.is_empty() || database.contains('/') {
            return Err(bad(
                "the URL must name one database: postgres://user@host:port/dbname or \
                 mysql://user@host:port/dbname"
                    .into(),
            ));
        }
        Ok(ConnectionUrl { secret: url.to_string(), redacted, engine, database, tls })
    }

    /// Override the TLS settings (Lambda configuration; the URL's own `sslmode` otherwise).
    pub fn with_tls(mut self, tls: TlsOptions) -> Self {
        self.tls = tls;
        self
    }

    pub fn tls(&self) -> &TlsOptions {
        &self.tls
    }

    /// The full connection string, password included: pass it to a driver, never print it.
    pub fn expose(&self) -> &str {
        &self.secret
    }

    pub fn engine(&self) -> EngineKind {
        self.engine
    }

    pub fn database(&self) -> &str {
        &self.database
    }

    /// The same server with another database (used by `restore --create`).
    pub fn with_database(&self, database: &str) -> Result<Self> {
        let mut url = url::Url::parse(&self.secret)
            .map_err(|e| Error::invalid(format!("URL '{}'", self.redacted), e))?;
        url.set_path(&format!("/{}", utf8_percent_encode(database)));
        Ok(ConnectionUrl::parse("URL", url.as_str())?.with_tls(self.tls.clone()))
    }
}

impl fmt::Display for ConnectionUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted)
    }
}

impl fmt::Debug for ConnectionUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ConnectionUrl({})", self.redacted)
    }
}

/// Take libpq's TLS parameters (`sslmode`, `sslrootcert`) out of the URL's query: the driver
/// knows only some of them, and streamdump applies them itself (see [`crate::tls`]).
fn take_tls_options(url: &mut url::Url) -> Result<TlsOptions> {
    let mut tls = TlsOptions::default();
    let mut rest = Vec::new();
    for (key, value) in url.query_pairs() {
        match key.as_ref() {
            "sslmode" => tls.mode = value.parse::<TlsMode>()?,
            "sslrootcert" => tls.ca_file = Some(value.as_ref().into()),
            _ => rest.push((key.into_owned(), value.into_owned())),
        }
    }
    if rest.is_empty() {
        url.set_query(None);
    } else {
        url.query_pairs_mut().clear().extend_pairs(rest);
    }
    Ok(tls)
}

/// Replace the password of a URL-shaped string with `***`, even when the string does not parse.
pub fn redact_url(raw: &str) -> String {
    if let Ok(mut url) = url::Url::parse(raw) {
        if url.password().is_some() && url.set_password(Some("***")).is_ok() {
            return url.to_string();
        }
        if url.password().is_none() && !raw.contains("password") {
            return url.to_string();
        }
    }
    // Unparseable or with a password in the query: blank everything between "://" and the last
    // '@' of the authority, and any password=... parameter.
    let mut out = raw.to_string();
    if let Some(start) = out.find("://").map(|i| i + 3) {
        let authority_end = out[start..].find('/').map_or(out.len(), |i| start + i);
        if let Some(at) = out[start..authority_end].rfind('@') {
            out.replace_range(start..start + at, "***");
        }
    }
    if let Some(p) = out.find("password=") {
        let end = out[p..].find('&').map_or(out.len(), |i| p + i);
        out.replace_range(p + "password=".len()..end, "***");
    }
    out
}

/// Percent-decoding of a URL component (`+` stays a plus), as streamdump reads user names and
/// passwords from connection URLs.
pub fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

fn utf8_percent_encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>().replace('+', "%20")
}

/// Escape one path segment of an object key (a schema, table or database name): bytes outside
/// `[A-Za-z0-9_-]` become `%XX`, so any identifier (slashes, dots, spaces, unicode) maps to a
/// safe, reversible, collision-free key segment.
pub fn key_segment(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b == b'_' || b == b'-' {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    if out.is_empty() { "%".to_string() } else { out }
}

/// A new backup id: UTC time to the second (sorts by time, no colons) and 4 random hex digits.
pub fn new_backup_id(now: DateTime<Utc>) -> String {
    format!("{}-{:04x}", now.format("%Y%m%dT%H%M%SZ"), rand::random::<u16>())
}

/// `1024`, `64KiB`, `8MiB`, `1GiB`, `10MB`, `1G`.
pub fn parse_size(raw: &str) -> Result<u64, String> {
    let s = raw.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, unit) = s.split_at(split);
    let n: u64 = digits.parse().map_err(|_| format!("'{raw}' is not a size (e.g. 64MiB)"))?;
    let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "kb" => 1000,
        "m" | "mib" => 1 << 20,
        "mb" => 1_000_000,
        "g" | "gib" => 1 << 30,
        "gb" => 1_000_000_000,
        "t" | "tib" => 1 << 40,
        other => return Err(format!("unknown size unit '{other}' in '{raw}'")),
    };
    n.checked_mul(factor).ok_or_else(|| format!("'{raw}' is too large"))
}

/// Check a backup id chosen by the caller (the HTTPS endpoint uses its request id): it becomes
/// a key segment, so only `[A-Za-z0-9._-]`, 1 to 128 characters, not starting with a dot.
pub fn validate_backup_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 128
        && !id.starts_with('.')
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            format!("backup id '{id}'"),
            "use 1 to 128 of A-Z a-z 0-9 . _ - (not starting with '.')",
        ))
    }
}

/// Asks a running backup or restore to stop early, with the same clean-up as a failure. The
/// Lambda handlers fire it a configurable margin before the invocation's deadline.
#[derive(Debug, Clone, Default)]
pub struct Stop {
    token: CancellationToken,
    deadline: Arc<AtomicBool>,
}

impl Stop {
    /// Stop because the caller's deadline is near.
    pub fn at_deadline(&self) {
        self.deadline.store(true, Ordering::SeqCst);
        self.token.cancel();
    }

    /// Stop for another reason (a signal).
    pub fn cancel(&self) {
        self.token.cancel();
    }

    pub fn is_stopped(&self) -> bool {
        self.token.is_cancelled()
    }

    pub fn token(&self) -> &CancellationToken {
        &self.token
    }

    /// The error a stopped run reports; `progress` says how far it got ("after 3 of 9 tables;
    /// nothing written").
    pub fn error(&self, progress: String) -> Error {
        if self.deadline.load(Ordering::SeqCst) {
            Error::DeadlineReached { progress }
        } else {
            Error::Cancelled { reason: format!("stopped {progress}") }
        }
    }
}

/// A table named by `--exclude-table`: `schema.table`, or `table` in any selected schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TablePattern {
    pub schema: Option<String>,
    pub name: String,
}

impl TablePattern {
    pub fn parse(raw: &str) -> Result<Self> {
        let bad = |reason: &str| Error::invalid(format!("table name '{raw}'"), reason);
        let parts = split_qualified(raw).ok_or_else(|| bad("unbalanced double quotes"))?;
        match parts.as_slice() {
            [name] if !name.is_empty() => Ok(TablePattern { schema: None, name: name.clone() }),
            [schema, name] if !schema.is_empty() && !name.is_empty() => {
                Ok(TablePattern { schema: Some(schema.clone()), name: name.clone() })
            }
            _ => Err(bad("expected table or schema.table (quote names containing dots: \"a.b\")")),
        }
    }

    pub fn matches(&self, schema: &str, name: &str) -> bool {
        self.name == name && self.schema.as_deref().is_none_or(|s| s == schema)
    }
}

impl fmt::Display for TablePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.schema {
            Some(s) => write!(f, "{s}.{}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

/// Split `a.b` / `"a.b".c` into unquoted parts; `None` on unbalanced quotes.
fn split_qualified(raw: &str) -> Option<Vec<String>> {
    let mut parts = vec![String::new()];
    let mut chars = raw.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                parts.last_mut()?.push('"');
            }
            ('"', _) => quoted = !quoted,
            ('.', false) => parts.push(String::new()),
            (c, _) => parts.last_mut()?.push(c),
        }
    }
    (!quoted).then_some(parts)
}

/// `--jobs`, defaulted and range-checked.
fn jobs(requested: Option<usize>) -> Result<usize> {
    let jobs = requested.unwrap_or(DEFAULT_JOBS);
    if jobs == 0 || jobs > MAX_JOBS {
        return Err(Error::invalid("jobs", format!("{jobs} is outside 1..={MAX_JOBS}")));
    }
    Ok(jobs)
}

/// Everything a backup needs, validated.
#[derive(Debug, Clone)]
pub struct BackupPlan {
    pub source: ConnectionUrl,
    pub destination: Location,
    /// Empty: every non-system schema.
    pub schemas: Vec<String>,
    pub exclude_tables: Vec<TablePattern>,
    pub jobs: usize,
    pub chunk_bytes: u64,
    pub zstd_level: i32,
    pub store: StoreOptions,
    /// Record objects the DDL generator cannot reproduce instead of failing.
    pub skip_unsupported: bool,
    /// The id to use instead of a new one (validated).
    pub backup_id: Option<String>,
    pub stop: Stop,
}

/// A backup request as it arrives (CLI flags; later Lambda events), before validation.
#[derive(Debug, Clone, Default)]
pub struct BackupRequest {
    pub source: String,
    pub destination: String,
    pub schemas: Vec<String>,
    pub exclude_tables: Vec<String>,
    pub jobs: Option<usize>,
    pub chunk_bytes: Option<u64>,
    pub zstd_level: Option<i32>,
    pub store: StoreOptions,
    pub skip_unsupported: bool,
    pub backup_id: Option<String>,
    pub stop: Stop,
}

impl BackupRequest {
    pub fn plan(self) -> Result<BackupPlan> {
        let source = ConnectionUrl::parse("source URL", &self.source)?;
        self.plan_with(source)
    }

    /// The plan for a source resolved elsewhere (the Lambda handler reads it from a secret);
    /// `self.source` is ignored.
    pub fn plan_with(self, source: ConnectionUrl) -> Result<BackupPlan> {
        let destination = Location::parse(&self.destination)?;
        let schemas = unique_schemas(self.schemas)?;
        let exclude_tables = self
            .exclude_tables
            .iter()
            .map(|t| TablePattern::parse(t))
            .collect::<Result<Vec<_>>>()?;
        let jobs = jobs(self.jobs)?;
        let chunk_bytes = self.chunk_bytes.unwrap_or(match source.engine() {
            EngineKind::Postgres => DEFAULT_CHUNK_BYTES,
            EngineKind::Mysql => DEFAULT_MYSQL_CHUNK_BYTES,
        });
        if chunk_bytes < MIN_CHUNK_BYTES {
            return Err(Error::invalid(
                "chunk size",
                format!("{chunk_bytes} is below {MIN_CHUNK_BYTES} bytes"),
            ));
        }
        let zstd_level = self.zstd_level.unwrap_or(DEFAULT_ZSTD_LEVEL);
        if !(1..=19).contains(&zstd_level) {
            return Err(Error::invalid("zstd level", format!("{zstd_level} is outside 1..=19")));
        }
        self.store.validate()?;
        if let Some(id) = &self.backup_id {
            validate_backup_id(id)?;
        }
        Ok(BackupPlan {
            source,
            destination,
            schemas,
            exclude_tables,
            jobs,
            chunk_bytes,
            zstd_level,
            store: self.store,
            skip_unsupported: self.skip_unsupported,
            backup_id: self.backup_id,
            stop: self.stop,
        })
    }
}

/// Schema names as given, without duplicates; an empty name is an error.
fn unique_schemas(given: Vec<String>) -> Result<Vec<String>> {
    let mut schemas = Vec::new();
    for s in given {
        if s.is_empty() {
            return Err(Error::invalid("schema", "empty schema name"));
        }
        if !schemas.contains(&s) {
            schemas.push(s);
        }
    }
    Ok(schemas)
}

/// Everything a restore needs, validated.
#[derive(Debug, Clone)]
pub struct RestorePlan {
    /// The manifest's directory and the manifest's key in it.
    pub backup: Location,
    pub manifest_key: String,
    pub target: ConnectionUrl,
    pub jobs: usize,
    pub replace: bool,
    pub create: bool,
    /// Empty: every schema of the backup; else only these (each must be in the backup).
    pub schemas: Vec<String>,
    /// MySQL only.
    pub definer: Definer,
    /// Leave out the scripts' `ALTER ... OWNER TO` statements: every object is owned by the
    /// restoring user (`pg_restore --no-owner`). MySQL backups have none.
    pub no_owner: bool,
    /// Leave out the scripts' `GRANT`, `REVOKE` and `ALTER DEFAULT PRIVILEGES` statements
    /// (`pg_restore --no-privileges`). MySQL backups have none.
    pub no_privileges: bool,
    pub store: StoreOptions,
    pub stop: Stop,
}

/// Parse a manifest URL into the backup directory and the manifest's key. A URL naming the
/// backup directory itself (without `manifest.json`) is accepted too.
pub fn manifest_location(raw: &str) -> Result<(Location, String)> {
    let location = Location::parse(raw)?;
    let location = if raw.trim_end_matches('/').ends_with(".json") {
        location
    } else {
        location.join(crate::manifest::FILE_NAME)
    };
    location
        .split_last()
        .ok_or_else(|| Error::invalid(format!("manifest URL '{raw}'"), "does not name a file"))
}

#[derive(Debug, Clone, Default)]
pub struct RestoreRequest {
    pub from: String,
    pub target: String,
    pub jobs: Option<usize>,
    pub replace: bool,
    pub create: bool,
    pub schemas: Vec<String>,
    /// `--definer`: keep (default), current, or user@host.
    pub definer: Option<String>,
    /// `--no-owner`: leave out `ALTER ... OWNER TO`.
    pub no_owner: bool,
    /// `--no-privileges`: leave out `GRANT`, `REVOKE` and default privileges.
    pub no_privileges: bool,
    pub store: StoreOptions,
    pub stop: Stop,
}

/// Whose account MySQL views, routines, triggers and events are created under on restore.
/// Managed servers (RDS) refuse a DEFINER other than the restoring user without SUPER.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Definer {
    /// As recorded in the backup.
    #[default]
    Keep,
    /// The restoring account (the DEFINER clause is left out).
    Current,
    /// This account, already quoted: `` `user`@`host` ``.
    Account(String),
}

impl Definer {
    pub fn parse(raw: &str) -> Result<Self> {
        match raw {
            "keep" => Ok(Definer::Keep),
            "current" => Ok(Definer::Current),
            other => {
                let bad = || {
                    Error::invalid(
                        format!("definer '{other}'"),
                        "expected keep, current or user@host",
                    )
                };
                let (user, host) = other.rsplit_once('@').ok_or_else(bad)?;
                let unquote = |s: &str| s.trim_matches(|c| c == '`' || c == '\'').to_string();
                let (user, host) = (unquote(user), unquote(host));
                if user.is_empty() || host.is_empty() {
                    return Err(bad());
                }
                let quote = crate::engine::mysql::quote_ident;
                Ok(Definer::Account(format!("{}@{}", quote(&user), quote(&host))))
            }
        }
    }
}

impl RestoreRequest {
    pub fn plan(self) -> Result<RestorePlan> {
        let target = ConnectionUrl::parse("target URL", &self.target)?;
        self.plan_with(target)
    }

    /// The plan for a target resolved elsewhere (a secret); `self.target` is ignored.
    pub fn plan_with(self, target: ConnectionUrl) -> Result<RestorePlan> {
        let (backup, manifest_key) = manifest_location(&self.from)?;
        let jobs = jobs(self.jobs)?;
        self.store.validate()?;
        Ok(RestorePlan {
            backup,
            manifest_key,
            target,
            jobs,
            replace: self.replace,
            create: self.create,
            schemas: unique_schemas(self.schemas)?,
            definer: self.definer.as_deref().map(Definer::parse).transpose()?.unwrap_or_default(),
            no_owner: self.no_owner,
            no_privileges: self.no_privileges,
            store: self.store,
            stop: self.stop,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_show() {
        let url =
            ConnectionUrl::parse("source URL", "postgres://app:s3cr%40t@db:5432/shop").unwrap();
        assert_eq!(url.to_string(), "postgres://app:***@db:5432/shop");
        assert!(!format!("{url:?}").contains("s3cr"));
        assert_eq!(url.database(), "shop");
        for raw in [
            "postgres://app:hunter2@db:5432/",
            "postgres://app:hunter2@:5432/x",
            "mysql://u:hunter2@h/",
            "ftp://u:hunter2@h/db",
        ] {
            let err = ConnectionUrl::parse("source URL", raw).unwrap_err().to_string();
            assert!(!err.contains("hunter2"), "{err}");
            assert!(err.contains("source URL"), "{err}");
        }
        let mysql = ConnectionUrl::parse("source URL", "mariadb://u:hunter2@h:3307/db").unwrap();
        assert_eq!((mysql.engine(), mysql.database()), (EngineKind::Mysql, "db"));
        assert!(!format!("{mysql} {mysql:?}").contains("hunter2"));
        assert_eq!(redact_url("postgres://u:p@w@h/db"), "postgres://u:***@h/db");
        assert!(!redact_url("host=h password=hunter2 dbname=x").contains("hunter2"));
        assert!(!redact_url("postgres://h/db?password=hunter2&x=1").contains("hunter2"));
    }

    #[test]
    fn definer_policies() {
        assert_eq!(Definer::parse("keep").unwrap(), Definer::Keep);
        assert_eq!(Definer::parse("current").unwrap(), Definer::Current);
        assert_eq!(Definer::parse("admin@%").unwrap(), Definer::Account("`admin`@`%`".into()));
        assert_eq!(
            Definer::parse("'app'@'10.0.%'").unwrap(),
            Definer::Account("`app`@`10.0.%`".into())
        );
        for bad in ["", "nobody", "@host", "user@"] {
            let err = Definer::parse(bad).unwrap_err().to_string();
            assert!(err.contains("keep, current or user@host"), "{err}");
        }
    }

    #[test]
    fn key_segments_are_safe_and_distinct() {
        assert_eq!(key_segment("orders"), "orders");
        assert_eq!(key_segment("My Table"), "My%20Table");
        assert_eq!(key_segment("a/b"), "a%2Fb");
        assert_eq!(key_segment(".."), "%2E%2E");
        assert_eq!(key_segment("é"), "%C3%A9");
        assert_ne!(key_segment("a.b"), key_segment("a%2Eb"));
    }

    #[test]
    fn backup_ids_sort_by_time_and_have_no_colon() {
        let a = new_backup_id("2026-11-25T21:04:54Z".parse().unwrap());
        let b = new_backup_id("2026-11-25T21:04:55Z".parse().unwrap());
        assert!(a.starts_with("20261125T210454Z-") && a.len() == 21, "{a}");
        assert!(!a.contains(':'));
        assert!(a < b);
    }

    #[test]
    fn table_patterns() {
        let p = TablePattern::parse("sales.orders").unwrap();
        assert!(p.matches("sales", "orders") && !p.matches("public", "orders"));
        let p = TablePattern::parse("orders").unwrap();
        assert!(p.matches("sales", "orders") && p.matches("public", "orders"));
        let p = TablePattern::parse("\"we.ird\".\"x\"\"y\"").unwrap();
        assert!(p.matches("we.ird", "x\"y"));
        assert!(TablePattern::parse("a.b.c").is_err());
        assert!(TablePattern::parse("\"a").is_err());
    }

    #[test]
    fn backup_request_validation_names_the_field() {
        let ok = BackupRequest {
            source: "postgres://u@h/db".into(),
            destination: "file:///tmp/x".into(),
            ..Default::default()
        };
        let plan = ok.clone().plan().unwrap();
        assert_eq!(
            (plan.jobs, plan.chunk_bytes, plan.zstd_level),
            (DEFAULT_JOBS, DEFAULT_CHUNK_BYTES, DEFAULT_ZSTD_LEVEL)
        );
        let mysql = BackupRequest { source: "mysql://u@h/db".into(), ..ok.clone() };
        assert_eq!(mysql.plan().unwrap().chunk_bytes, DEFAULT_MYSQL_CHUNK_BYTES);
        let err = BackupRequest { jobs: Some(0), ..ok.clone() }.plan().unwrap_err().to_string();
        assert!(err.contains("jobs"), "{err}");
        let err =
            BackupRequest { zstd_level: Some(40), ..ok.clone() }.plan().unwrap_err().to_string();
        assert!(err.contains("zstd level"), "{err}");
        let err = BackupRequest { destination: "bucket/x".into(), ..ok.clone() }
            .plan()
            .unwrap_err()
            .to_string();
        assert!(err.contains("bucket/x"), "{err}");
        let err =
            BackupRequest { source: "not a url".into(), ..ok }.plan().unwrap_err().to_string();
        assert!(err.contains("source URL"), "{err}");
    }

    #[test]
    fn restore_requests_carry_their_flags() {
        let ok = RestoreRequest {
            from: "file:///x/db/id/".into(),
            target: "postgres://u@h/db".into(),
            ..Default::default()
        };
        let plan = ok.clone().plan().unwrap();
        assert!(!plan.no_owner && !plan.no_privileges);
        assert_eq!(plan.definer, Definer::Keep);
        let plan = RestoreRequest { no_owner: true, no_privileges: true, ..ok }.plan().unwrap();
        assert!(plan.no_owner && plan.no_privileges);
    }

    #[test]
    fn manifest_urls() {
        let (dir, key) = manifest_location("s3://b-1/p/db/id/manifest.json").unwrap();
        assert_eq!((dir.to_string().as_str(), key.as_str()), ("s3://b-1/p/db/id", "manifest.json"));
        let (dir, key) = manifest_location("file:///x/db/id/").unwrap();
        assert_eq!((dir.to_string().as_str(), key.as_str()), ("file:///x/db/id", "manifest.json"));
    }
}
