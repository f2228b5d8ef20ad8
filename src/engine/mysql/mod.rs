//! MySQL and MariaDB engine (mysql_async): a consistent snapshot across worker connections for
//! backup, `LOAD DATA LOCAL INFILE` fed from the verifying decoder for restore.
//!
//! Backup, the consistency ladder (reference/mysql.md section 4): the leader tries `FLUSH TABLES
//! WITH READ LOCK`; while it holds it, each worker opens `START TRANSACTION WITH CONSISTENT
//! SNAPSHOT` and the leader reads the binlog position and GTID set, then `UNLOCK TABLES`: every
//! worker sees the instant the lock froze (`ftwrl_snapshot`). Where FTWRL is denied (RDS) or
//! waits too long, the workers open their snapshots without it; MariaDB reports each snapshot's
//! binlog position (`Binlog_snapshot_file/position`), and if every worker's is the same, they
//! all see the same instant (`snapshot_position_match`). Otherwise one connection reads every
//! table (`single_snapshot`). The manifest records the mode and its evidence, never more.
//!
//! Data: `SELECT` of the explicit column list (generated columns left out, invisible ones in)
//! on a `SET NAMES binary`, `time_zone='+00:00'` session, encoded by [`tsv`]. FLOAT columns are
//! read as DOUBLE, because the server prints a FLOAT with 6 significant digits and that text
//! does not load back to the same value. An InnoDB table bigger than the chunk size with a
//! one-column integer primary key is read in key ranges ([`ranges`]) that several workers take
//! at once.
//!
//! Restore: one database per restore (the target URL's; the backup's may have another name).
//! Each chunk is one `LOAD DATA LOCAL INFILE ... CHARACTER SET binary` in its own transaction,
//! committed only if the stream verified, the affected rows match and the server raised no
//! warning (LOCAL turns data errors into warnings).

mod ddl;
mod dump;
mod load;
mod ranges;
pub mod tsv;

pub use dump::MysqlSource;
pub use load::MysqlTarget;

use std::fmt::Write as _;

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, OptsBuilder, Row, SslOpts, Value};

use crate::error::{Error, Result};
use crate::plan::{ConnectionUrl, percent_decode};
use crate::tls::TlsMode;

/// The data format of MySQL data objects.
pub const FORMAT_TSV: &str = "mysql_tsv";

/// Raw bytes per batch handed to the codec (batches end on a row boundary, and a chunk rolls
/// over between batches, so this is also the granularity of `--chunk-size`).
pub(super) const BATCH_BYTES: usize = 64 * 1024;

/// How long FLUSH TABLES WITH READ LOCK may wait (behind long statements, during which writes
/// queue behind it) before the backup falls back to lock-free snapshots.
pub(super) const FTWRL_WAIT_SECS: u32 = 10;

/// Server error codes the code reacts to.
pub(super) mod code {
    pub const ACCESS_DENIED: u16 = 1045;
    pub const DB_ACCESS_DENIED: u16 = 1044;
    pub const SPECIFIC_ACCESS_DENIED: u16 = 1227;
    pub const LOCK_WAIT_TIMEOUT: u16 = 1205;
    pub const DEADLOCK: u16 = 1213;
    pub const UNKNOWN_DATABASE: u16 = 1049;
    pub const LOCAL_INFILE_DISABLED: u16 = 1148;
    pub const LOCAL_INFILE_DISABLED_8: u16 = 3948;
}

/// `` `name` `` with backquotes doubled.
pub fn quote_ident(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// `` `schema`.`name` ``.
pub fn qualified(schema: &str, name: &str) -> String {
    format!("{}.{}", quote_ident(schema), quote_ident(name))
}

/// A string literal (our sessions never set NO_BACKSLASH_ESCAPES).
pub fn quote_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        match c {
            '\'' => out.push_str("''"),
            '\\' => out.push_str("\\\\"),
            '\0' => out.push_str("\\0"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// A driver error as one line.
pub(crate) fn describe(e: &mysql_async::Error) -> String {
    match e {
        mysql_async::Error::Server(s) => format!("ERROR {} ({}): {}", s.code, s.state, s.message),
        other => {
            let mut s = other.to_string();
            let mut source = std::error::Error::source(other);
            while let Some(cause) = source {
                let text = cause.to_string();
                if !s.contains(&text) {
                    let _ = write!(s, ": {text}");
                }
                source = cause.source();
            }
            s
        }
    }
}

pub(super) fn server_code(e: &mysql_async::Error) -> Option<u16> {
    match e {
        mysql_async::Error::Server(s) => Some(s.code),
        _ => None,
    }
}

pub(super) fn db_err(context: impl Into<String>) -> impl FnOnce(mysql_async::Error) -> Error {
    let context = context.into();
    move |e| Error::database(context, describe(&e))
}

/// Driver options for `url`, with `database` as the default database (`None`: none).
fn options(url: &ConnectionUrl, database: Option<&str>, tls: bool) -> Result<OptsBuilder> {
    let parsed = url::Url::parse(url.expose())
        .map_err(|e| Error::invalid(format!("URL '{url}'"), e.to_string()))?;
    let user = percent_decode(parsed.username());
    let mut builder = OptsBuilder::default()
        .ip_or_hostname(parsed.host_str().unwrap_or_default().trim_matches(['[', ']']))
        .tcp_port(parsed.port().unwrap_or(3306))
        .user((!user.is_empty()).then_some(user))
        .pass(parsed.password().map(percent_decode))
        .db_name(database)
        .prefer_socket(false)
        .stmt_cache_size(0);
    if tls {
        let mut ssl = SslOpts::default();
        match url.tls().mode {
            TlsMode::VerifyFull => {
                if let Some(ca) = &url.tls().ca_file {
                    ssl = ssl.with_root_certs(vec![ca.clone().into()]);
                }
            }
            _ => {
                // require/prefer encrypt without checking the certificate, as libpq does.
                ssl = ssl
                    .with_danger_accept_invalid_certs(true)
                    .with_danger_skip_domain_validation(true);
            }
        }
        builder = builder.ssl_opts(ssl);
    }
    Ok(builder)
}

/// Connect to `database` on the URL's server with its TLS mode (`prefer` falls back to plain
/// TCP when the server offers no TLS).
pub(super) async fn connect(url: &ConnectionUrl, database: Option<&str>) -> Result<Conn> {
    // A refusal that is not the server's own answer (bad password, unknown database) may be
    // the TLS handshake: say what the mode demands.
    let refused = |e: &mysql_async::Error| Error::Connect {
        target: url.to_string(),
        reason: match url.tls().mode.refusal_hint() {
            Some(hint) if !matches!(e, mysql_async::Error::Server(_)) => {
                format!("{} ({hint})", describe(e))
            }
            _ => describe(e),
        },
    };
    let tls = url.tls().mode != TlsMode::Disable;
    match Conn::new(options(url, database, tls)?).await {
        Ok(conn) => Ok(conn),
        Err(e)
            if url.tls().mode == TlsMode::Prefer && !matches!(e, mysql_async::Error::Server(_)) =>
        {
            Conn::new(options(url, database, false)?).await.map_err(|e| refused(&e))
        }
        Err(e) => Err(refused(&e)),
    }
}

/// The text of column `i` of a text-protocol row (`None`: NULL).
pub(super) fn text(row: &Row, i: usize) -> Option<String> {
    match row.as_ref(i) {
        Some(Value::Bytes(b)) => Some(String::from_utf8_lossy(b).into_owned()),
        Some(Value::NULL) | None => None,
        Some(other) => Some(other.as_sql(true)),
    }
}

/// Rows of a text-protocol query.
pub(super) async fn rows(conn: &mut Conn, sql: &str, context: &str) -> Result<Vec<Row>> {
    conn.query::<Row, _>(sql).await.map_err(db_err(context))
}
