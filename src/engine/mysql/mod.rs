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
//! does not load back to the same value.
//!
//! Restore: one database per restore (the target URL's; the backup's may have another name).
//! Each chunk is one `LOAD DATA LOCAL INFILE ... CHARACTER SET binary` in its own transaction,
//! committed only if the stream verified, the affected rows match and the server raised no
//! warning (LOCAL turns data errors into warnings).

mod ddl;
pub mod tsv;

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::StreamExt;
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, OptsBuilder, Row, SslOpts, Value};
use tokio::sync::mpsc;

use self::tsv::Encoding;
use super::{
    Loader, RawStream, RowBatch, RowStream, Selection, Snapshot, Source, SourceWorker, TableSpec,
    Target,
};
use crate::error::{Error, Result};
use crate::manifest::{Consistency, Requires, SequenceValue, SourceInfo, Table};
use crate::plan::{ConnectionUrl, Definer};
use crate::tls::TlsMode;

/// The data format of MySQL data objects.
pub const FORMAT_TSV: &str = "mysql_tsv";

/// Raw bytes per batch handed to the codec (batches end on a row boundary, and a chunk rolls
/// over between batches, so this is also the granularity of `--chunk-size`).
const BATCH_BYTES: usize = 64 * 1024;

/// How long FLUSH TABLES WITH READ LOCK may wait (behind long statements, during which writes
/// queue behind it) before the backup falls back to lock-free snapshots.
const FTWRL_WAIT_SECS: u32 = 10;

/// Server error codes the code reacts to.
mod code {
    pub const ACCESS_DENIED: u16 = 1045;
    pub const DB_ACCESS_DENIED: u16 = 1044;
    pub const SPECIFIC_ACCESS_DENIED: u16 = 1227;
    pub const LOCK_WAIT_TIMEOUT: u16 = 1205;
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

fn server_code(e: &mysql_async::Error) -> Option<u16> {
    match e {
        mysql_async::Error::Server(s) => Some(s.code),
        _ => None,
    }
}

fn db_err(context: impl Into<String>) -> impl FnOnce(mysql_async::Error) -> Error {
    let context = context.into();
    move |e| Error::database(context, describe(&e))
}

/// Driver options for `url`, with `database` as the default database (`None`: none).
fn options(url: &ConnectionUrl, database: Option<&str>, tls: bool) -> Result<OptsBuilder> {
    let parsed = url::Url::parse(url.expose())
        .map_err(|e| Error::invalid(format!("URL '{url}'"), e.to_string()))?;
    let decode = |s: &str| {
        url::form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    let user = decode(parsed.username());
    let mut builder = OptsBuilder::default()
        .ip_or_hostname(parsed.host_str().unwrap_or_default().trim_matches(['[', ']']))
        .tcp_port(parsed.port().unwrap_or(3306))
        .user((!user.is_empty()).then_some(user))
        .pass(parsed.password().map(decode))
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
async fn connect(url: &ConnectionUrl, database: Option<&str>) -> Result<Conn> {
    let refused = |e: &mysql_async::Error| Error::Connect {
        target: url.to_string(),
        reason: match url.tls().mode {
            TlsMode::VerifyFull | TlsMode::Require
                if !matches!(e, mysql_async::Error::Server(_)) =>
            {
                format!(
                    "{} (TLS mode {}: the server must accept TLS{})",
                    describe(e),
                    url.tls().mode,
                    if url.tls().mode == TlsMode::VerifyFull {
                        " with a certificate that chains to a system root or the CA bundle and names the host"
                    } else {
                        ""
                    }
                )
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
fn text(row: &Row, i: usize) -> Option<String> {
    match row.as_ref(i) {
        Some(Value::Bytes(b)) => Some(String::from_utf8_lossy(b).into_owned()),
        Some(Value::NULL) | None => None,
        Some(other) => Some(other.as_sql(true)),
    }
}

/// Rows of a text-protocol query.
async fn rows(conn: &mut Conn, sql: &str, context: &str) -> Result<Vec<Row>> {
    conn.query::<Row, _>(sql).await.map_err(db_err(context))
}

/// Binlog coordinates as a server reports them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Coordinates {
    file: Option<String>,
    position: Option<u64>,
    gtid: Option<String>,
}

/// The leader's binlog file/position (`SHOW MASTER STATUS`) and GTID set, read while FTWRL
/// holds every write back.
async fn coordinates(conn: &mut Conn, mariadb: bool) -> Result<Coordinates> {
    let mut found = Coordinates::default();
    // Denied without REPLICATION CLIENT / BINLOG MONITOR: then the evidence is only the lock.
    // MySQL 8.4 removed SHOW MASTER STATUS for SHOW BINARY LOG STATUS.
    for statement in ["SHOW MASTER STATUS", "SHOW BINARY LOG STATUS"] {
        if let Ok(status) = conn.query::<Row, _>(statement).await {
            if let Some(row) = status.first() {
                found.file = text(row, 0);
                found.position = text(row, 1).and_then(|p| p.parse().ok());
            }
            break;
        }
    }
    let gtid =
        if mariadb { "SELECT @@GLOBAL.gtid_binlog_pos" } else { "SELECT @@GLOBAL.gtid_executed" };
    if let Ok(rows) = conn.query::<Row, _>(gtid).await {
        found.gtid = rows.first().and_then(|r| text(r, 0)).filter(|g| !g.is_empty());
    }
    Ok(found)
}

/// MariaDB's binlog position of a connection's consistent snapshot (empty without a binlog).
async fn snapshot_coordinates(conn: &mut Conn) -> Coordinates {
    let mut found = Coordinates::default();
    if let Ok(rows) = conn.query::<Row, _>("SHOW STATUS LIKE 'binlog_snapshot_%'").await {
        for row in rows {
            match (text(&row, 0).unwrap_or_default().to_ascii_lowercase().as_str(), text(&row, 1)) {
                ("binlog_snapshot_file", Some(f)) if !f.is_empty() => found.file = Some(f),
                ("binlog_snapshot_position", Some(p)) => found.position = p.parse().ok(),
                _ => {}
            }
        }
    }
    found
}

/// A worker session: raw bytes out, UTC times, then its snapshot.
async fn open_worker(url: &ConnectionUrl, database: &str) -> Result<Conn> {
    let mut conn = connect(url, Some(database)).await?;
    conn.query_drop(
        "SET NAMES binary, SESSION time_zone = '+00:00', SESSION sql_mode = '', \
         SESSION net_write_timeout = 3600; \
         SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ",
    )
    .await
    .map_err(db_err("setting up a dump session"))?;
    conn.query_drop("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
        .await
        .map_err(db_err("opening a consistent snapshot"))?;
    Ok(conn)
}

/// Backup side.
pub struct MysqlSource {
    url: ConnectionUrl,
    leader: Option<Conn>,
    workers: Mutex<Vec<Conn>>,
}

impl MysqlSource {
    pub fn new(url: ConnectionUrl) -> Self {
        MysqlSource { url, leader: None, workers: Mutex::new(Vec::new()) }
    }

    /// Open the workers' snapshots, as consistently as this account allows.
    async fn open_snapshots(
        &self,
        leader: &mut Conn,
        workers: usize,
        mariadb: bool,
    ) -> Result<(Vec<Conn>, Consistency)> {
        let database = self.url.database().to_string();
        let mut consistency = Consistency {
            mode: String::new(),
            snapshot_id: None,
            wal_lsn: None,
            binlog_file: None,
            binlog_position: None,
            gtid_set: None,
            workers: 0,
        };
        leader
            .query_drop(format!("SET SESSION lock_wait_timeout = {FTWRL_WAIT_SECS}"))
            .await
            .map_err(db_err("setting up the backup session"))?;
        match leader.query_drop("FLUSH TABLES WITH READ LOCK").await {
            Ok(()) => {
                let mut opened = Vec::with_capacity(workers);
                let result = async {
                    for _ in 0..workers {
                        opened.push(open_worker(&self.url, &database).await?);
                    }
                    coordinates(leader, mariadb).await
                }
                .await;
                leader.query_drop("UNLOCK TABLES").await.map_err(db_err("UNLOCK TABLES"))?;
                let at = result?;
                consistency.mode = "ftwrl_snapshot".into();
                consistency.binlog_file = at.file;
                consistency.binlog_position = at.position;
                consistency.gtid_set = at.gtid;
                consistency.workers = opened.len() as u32;
                return Ok((opened, consistency));
            }
            Err(e)
                if matches!(
                    server_code(&e),
                    Some(
                        code::SPECIFIC_ACCESS_DENIED
                            | code::ACCESS_DENIED
                            | code::DB_ACCESS_DENIED
                            | code::LOCK_WAIT_TIMEOUT
                    )
                ) =>
            {
                tracing::warn!(reason = %describe(&e), "FLUSH TABLES WITH READ LOCK failed; using lock-free snapshots");
            }
            Err(e) => return Err(Error::database("FLUSH TABLES WITH READ LOCK", describe(&e))),
        }
        let mut opened = Vec::with_capacity(workers);
        let mut at = Vec::with_capacity(workers);
        for _ in 0..workers {
            let mut conn = open_worker(&self.url, &database).await?;
            at.push(snapshot_coordinates(&mut conn).await);
            opened.push(conn);
        }
        let first = at.first().cloned().unwrap_or_default();
        if workers > 1 && mariadb && first.file.is_some() && at.iter().all(|c| *c == first) {
            consistency.mode = "snapshot_position_match".into();
        } else {
            // Without a shared binlog position the snapshots may see different instants: one
            // connection reads everything.
            opened.truncate(1);
            consistency.mode = "single_snapshot".into();
        }
        consistency.binlog_file = first.file;
        consistency.binlog_position = first.position;
        consistency.workers = opened.len() as u32;
        Ok((opened, consistency))
    }
}

#[async_trait]
impl Source for MysqlSource {
    async fn begin(&mut self, selection: &Selection, workers: usize) -> Result<Snapshot> {
        let mut leader = connect(&self.url, Some(self.url.database())).await?;
        leader
            .query_drop(
                "SET NAMES utf8mb4, SESSION sql_mode = '', SESSION sql_quote_show_create = 1, \
                 SESSION time_zone = '+00:00'",
            )
            .await
            .map_err(db_err("setting up the backup session"))?;
        let info =
            rows(&mut leader, "SELECT VERSION(), @@version_comment", "reading the server version")
                .await?;
        let server_version = info.first().and_then(|r| text(r, 0)).unwrap_or_default();
        let comment = info.first().and_then(|r| text(r, 1)).unwrap_or_default();
        let mariadb = server_version.contains("MariaDB") || comment.contains("MariaDB");

        let schemas = if selection.schemas.is_empty() {
            vec![self.url.database().to_string()]
        } else {
            selection.schemas.clone()
        };
        let found = ddl::schemas(&mut leader, &schemas).await?;
        let (opened, consistency) =
            self.open_snapshots(&mut leader, workers.max(1), mariadb).await?;
        let snapshot_at = chrono::Utc::now();
        let catalog = ddl::read(&mut leader, &found, &selection.exclude_tables).await?;
        if !catalog.unsupported.is_empty() && !selection.skip_unsupported {
            return Err(Error::Unsupported {
                reason: format!(
                    "this version cannot reproduce {} object(s): {}; rerun with --skip-unsupported \
                     to back up everything else and record these in the manifest",
                    catalog.unsupported.len(),
                    catalog.unsupported.join("; ")
                ),
            });
        }
        if let Ok(mut pool) = self.workers.lock() {
            *pool = opened;
        }
        self.leader = Some(leader);
        let first = &found[0];
        Ok(Snapshot {
            info: SourceInfo {
                engine: "mysql".into(),
                server_version,
                database: first.name.clone(),
                encoding: first.charset.clone(),
                lc_collate: Some(first.collation.clone()),
                lc_ctype: None,
            },
            consistency,
            snapshot_at,
            schemas: found.iter().map(|s| s.name.clone()).collect(),
            tables: catalog.tables,
            scripts: catalog.scripts,
            requires: Requires::default(),
            skipped: catalog.unsupported,
        })
    }

    async fn worker(&self) -> Result<Box<dyn SourceWorker>> {
        let conn = self
            .workers
            .lock()
            .ok()
            .and_then(|mut pool| pool.pop())
            .ok_or_else(|| Error::database("mysql source", "no snapshot connection left"))?;
        Ok(Box::new(MysqlWorker { conn: Arc::new(tokio::sync::Mutex::new(conn)) }))
    }

    async fn sequences(&self) -> Result<Vec<SequenceValue>> {
        Ok(Vec::new())
    }

    async fn finish(&mut self) -> Result<()> {
        if let Ok(mut pool) = self.workers.lock() {
            pool.clear();
        }
        if let Some(conn) = self.leader.take() {
            conn.disconnect().await.map_err(db_err("closing the backup session"))?;
        }
        Ok(())
    }
}

struct MysqlWorker {
    conn: Arc<tokio::sync::Mutex<Conn>>,
}

/// The select list of a table: FLOAT read as DOUBLE (see the module doc), the rest as stored.
fn select_list(table: &TableSpec) -> String {
    table
        .columns
        .iter()
        .enumerate()
        .map(|(i, c)| match table.column_types.get(i).map(String::as_str) {
            Some("float") => format!("CAST({} AS DOUBLE)", quote_ident(c)),
            _ => quote_ident(c),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn encodings(table: &TableSpec) -> Result<Vec<Encoding>> {
    table
        .encodings
        .iter()
        .map(|e| {
            Encoding::parse(e).ok_or_else(|| {
                Error::database(
                    format!("table {}", table.display_name()),
                    format!("unknown column encoding '{e}'"),
                )
            })
        })
        .collect()
}

#[async_trait]
impl SourceWorker for MysqlWorker {
    async fn copy_out(&mut self, table: &TableSpec) -> Result<RowStream> {
        let context = format!("reading table {}", table.display_name());
        let sql =
            format!("SELECT {} FROM {}", select_list(table), qualified(&table.schema, &table.name));
        let encodings = encodings(table)?;
        let mut conn = self.conn.clone().lock_owned().await;
        let (tx, mut rx) = mpsc::channel::<Result<RowBatch>>(4);
        tokio::spawn(async move {
            if let Err(e) = stream_rows(&mut conn, &sql, &encodings, &tx).await {
                let _ = tx.send(Err(Error::database(context, describe(&e)))).await;
            }
        });
        Ok(Box::pin(futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))))
    }
}

/// Read a table's rows and send them as TSV batches; stops quietly when the receiver is gone.
async fn stream_rows(
    conn: &mut Conn,
    sql: &str,
    encodings: &[Encoding],
    tx: &mpsc::Sender<Result<RowBatch>>,
) -> std::result::Result<(), mysql_async::Error> {
    let mut result = conn.query_iter(sql).await?;
    let mut buf = Vec::with_capacity(BATCH_BYTES + 64 * 1024);
    let mut rows = 0u64;
    while let Some(row) = result.next().await? {
        for i in 0..row.len() {
            if i > 0 {
                buf.push(b'\t');
            }
            let encoding = encodings.get(i).copied().unwrap_or(Encoding::Text);
            match row.as_ref(i) {
                Some(Value::Bytes(b)) => tsv::push_value(&mut buf, Some(b), encoding),
                Some(Value::NULL) | None => tsv::push_value(&mut buf, None, encoding),
                Some(other) => {
                    tsv::push_value(&mut buf, Some(other.as_sql(true).as_bytes()), encoding)
                }
            }
        }
        buf.push(b'\n');
        rows += 1;
        if buf.len() >= BATCH_BYTES {
            let bytes = Bytes::from(std::mem::replace(
                &mut buf,
                Vec::with_capacity(BATCH_BYTES + 64 * 1024),
            ));
            if tx.send(Ok(RowBatch { bytes, rows })).await.is_err() {
                return Ok(());
            }
            rows = 0;
        }
    }
    if rows > 0 {
        let _ = tx.send(Ok(RowBatch { bytes: Bytes::from(buf), rows })).await;
    }
    Ok(())
}

/// Restore side: the target database (the URL's), one connection for DDL.
pub struct MysqlTarget {
    url: ConnectionUrl,
    conn: tokio::sync::Mutex<Conn>,
    charset: String,
    collation: Option<String>,
    /// This restore created the database (`--create`).
    created: bool,
    definer: Definer,
}

/// Restore session: DDL text in utf8mb4 (data bypasses it with CHARACTER SET binary), UTC, no
/// foreign key or unique checks while loading, 0 kept in AUTO_INCREMENT columns, zero dates
/// accepted.
const RESTORE_SESSION: &str = "SET NAMES utf8mb4, SESSION sql_mode = 'NO_AUTO_VALUE_ON_ZERO', \
     SESSION time_zone = '+00:00', SESSION foreign_key_checks = 0, SESSION unique_checks = 0, \
     SESSION sql_quote_show_create = 1, SESSION net_read_timeout = 3600";

async fn restore_connection(url: &ConnectionUrl) -> Result<Conn> {
    let mut conn = connect(url, Some(url.database())).await?;
    conn.query_drop(RESTORE_SESSION).await.map_err(db_err("setting up the restore session"))?;
    Ok(conn)
}

fn create_database_sql(name: &str, charset: &str, collation: Option<&str>) -> String {
    let mut sql = format!("CREATE DATABASE {}", quote_ident(name));
    if !charset.is_empty() {
        let _ = write!(sql, " CHARACTER SET {}", quote_str(charset));
    }
    if let Some(c) = collation.filter(|c| !c.is_empty()) {
        let _ = write!(sql, " COLLATE {}", quote_str(c));
    }
    sql
}

impl MysqlTarget {
    /// Connect to the target database, creating it (with the source's character set) when
    /// `create` is set and it is missing.
    pub async fn connect(
        url: ConnectionUrl,
        source: &SourceInfo,
        create: bool,
        definer: Definer,
    ) -> Result<Self> {
        let charset = source.encoding.clone();
        let collation = source.lc_collate.clone();
        let mut created = false;
        let conn = match restore_connection(&url).await {
            Ok(conn) => conn,
            Err(Error::Connect { reason, target })
                if reason.contains(&format!("ERROR {}", code::UNKNOWN_DATABASE)) =>
            {
                if !create {
                    return Err(Error::Connect {
                        target,
                        reason: format!("{reason}; create it first or pass --create"),
                    });
                }
                let mut server = connect(&url, None).await?;
                server
                    .query_drop(create_database_sql(url.database(), &charset, collation.as_deref()))
                    .await
                    .map_err(db_err(format!("creating database {}", url.database())))?;
                let _ = server.disconnect().await;
                created = true;
                restore_connection(&url).await?
            }
            Err(e) => return Err(e),
        };
        Ok(MysqlTarget {
            url,
            conn: tokio::sync::Mutex::new(conn),
            charset,
            collation,
            created,
            definer,
        })
    }
}

#[async_trait]
impl Target for MysqlTarget {
    async fn preflight(
        &self,
        schemas: &[String],
        _requires: &Requires,
        replace: bool,
    ) -> Result<()> {
        let target = format!("target '{}'", self.url);
        if schemas.len() > 1 {
            return Err(Error::invalid(
                target,
                format!(
                    "the backup holds {} databases ({}); restore one at a time with --schema",
                    schemas.len(),
                    schemas.join(", ")
                ),
            ));
        }
        let mut conn = self.conn.lock().await;
        let infile =
            rows(&mut conn, "SELECT @@GLOBAL.local_infile", "reading local_infile").await?;
        if infile.first().and_then(|r| text(r, 0)).as_deref() == Some("0") {
            return Err(Error::database(
                target,
                "the server does not allow LOAD DATA LOCAL INFILE (local_infile is OFF); \
                 restore needs SET GLOBAL local_infile = 1 (on RDS/Aurora: local_infile = 1 in \
                 the DB parameter group)",
            ));
        }
        let database = self.url.database();
        let held = rows(
            &mut conn,
            &format!(
                "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = {} ORDER BY 1",
                quote_str(database)
            ),
            "listing the target's tables",
        )
        .await?;
        let names: Vec<String> = held.iter().filter_map(|r| text(r, 0)).collect();
        if names.is_empty() {
            return Ok(());
        }
        if !replace {
            let shown: Vec<&str> = names.iter().take(5).map(String::as_str).collect();
            return Err(Error::TargetNotEmpty {
                target: self.url.to_string(),
                reason: format!(
                    "database {database} already holds {} table(s) or view(s) ({}{}); pass --replace to drop and recreate it",
                    names.len(),
                    shown.join(", "),
                    if names.len() > 5 { ", ..." } else { "" }
                ),
            });
        }
        let current = rows(
            &mut conn,
            &format!(
                "SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = {}",
                quote_str(database)
            ),
            "reading the target database's character set",
        )
        .await?;
        let charset =
            current.first().and_then(|r| text(r, 0)).unwrap_or_else(|| self.charset.clone());
        let collation = current.first().and_then(|r| text(r, 1)).or_else(|| self.collation.clone());
        let sql = format!(
            "DROP DATABASE {db}; {create}; USE {db}",
            db = quote_ident(database),
            create = create_database_sql(database, &charset, collation.as_deref())
        );
        conn.query_drop(sql).await.map_err(db_err(format!("replacing database {database}")))
    }

    async fn execute_script(&self, sql: &str, what: &str) -> Result<()> {
        let mut conn = self.conn.lock().await;
        for statement in super::script::parse(sql) {
            run_statement(&mut conn, &statement.sql, what, &self.definer).await?;
        }
        Ok(())
    }

    async fn loader(&self) -> Result<Box<dyn Loader>> {
        Ok(Box::new(MysqlLoader {
            url: self.url.clone(),
            conn: restore_connection(&self.url).await?,
            database: self.url.database().to_string(),
            definer: self.definer.clone(),
        }))
    }

    async fn set_sequences(&self, _sequences: &[SequenceValue]) -> Result<()> {
        Ok(())
    }

    async fn empty_table(&self, table: &Table) -> Result<()> {
        let mut conn = self.conn.lock().await;
        conn.query_drop(format!("TRUNCATE TABLE {}", qualified(self.url.database(), &table.name)))
            .await
            .map_err(db_err(format!("emptying table {}", table.display_name())))
    }

    async fn abandon(&self) -> Result<bool> {
        if !self.created {
            return Ok(false);
        }
        let mut conn = self.conn.lock().await;
        conn.query_drop(format!("DROP DATABASE {}", quote_ident(self.url.database())))
            .await
            .map_err(db_err(format!("dropping database {}", self.url.database())))?;
        Ok(true)
    }
}

/// Roll back the chunk's transaction; a failure is only logged (the connection is then broken
/// and the error that caused the rollback is the one to report).
fn first_line(sql: &str) -> String {
    let line = sql
        .lines()
        .find(|l| l.starts_with("CREATE"))
        .or_else(|| sql.lines().next())
        .unwrap_or_default();
    line.chars().take(120).collect()
}

/// Run one schema statement (possibly several SQL statements: settings around a CREATE) with
/// the definer policy applied; an error names the object.
async fn run_statement(conn: &mut Conn, sql: &str, what: &str, definer: &Definer) -> Result<()> {
    conn.query_drop(ddl::with_definer(sql, definer)).await.map_err(|e| {
        Error::database(format!("running {what}"), format!("{}: {}", describe(&e), first_line(sql)))
    })
}

struct MysqlLoader {
    url: ConnectionUrl,
    conn: Conn,
    database: String,
    definer: Definer,
}

impl MysqlLoader {
    /// Undo a failed chunk. The driver closes the connection when the chunk's stream fails, and
    /// the server then rolls back; a table in a non-transactional engine (MyISAM, Aria) keeps
    /// the rows either way, so it is emptied: a table is never left partly loaded.
    async fn discard(&mut self, table: &Table) {
        if self.conn.query_drop("ROLLBACK").await.is_err() {
            match restore_connection(&self.url).await {
                Ok(conn) => self.conn = conn,
                Err(e) => {
                    tracing::warn!(error = %e, table = %table.display_name(), "reconnecting after a failed chunk failed");
                    return;
                }
            }
        }
        let engine = self
            .conn
            .query::<Row, _>(format!(
                "SELECT ENGINE FROM information_schema.TABLES WHERE TABLE_SCHEMA = {} AND TABLE_NAME = {}",
                quote_str(&self.database),
                quote_str(&table.name)
            ))
            .await
            .ok()
            .and_then(|rows| rows.first().and_then(|r| text(r, 0)))
            .unwrap_or_default();
        if TRANSACTIONAL_ENGINES.iter().any(|e| e.eq_ignore_ascii_case(&engine)) {
            return;
        }
        let target = qualified(&self.database, &table.name);
        if let Err(e) = self.conn.query_drop(format!("TRUNCATE TABLE {target}")).await {
            tracing::warn!(error = %describe(&e), table = %table.display_name(), "emptying a non-transactional table failed");
        }
    }
}

/// Engines whose ROLLBACK undoes a chunk.
const TRANSACTIONAL_ENGINES: [&str; 3] = ["InnoDB", "RocksDB", "TokuDB"];

#[async_trait]
impl Loader for MysqlLoader {
    async fn execute(&mut self, sql: &str, what: &str) -> Result<()> {
        run_statement(&mut self.conn, sql, what, &self.definer).await
    }

    async fn analyze(&mut self, table: &Table) -> Result<()> {
        self.conn
            .query_drop(format!("ANALYZE TABLE {}", qualified(&self.database, &table.name)))
            .await
            .map_err(db_err(format!("analyzing table {}", table.display_name())))
    }

    async fn load_chunk(
        &mut self,
        table: &Table,
        key: &str,
        data: RawStream,
        expected_rows: u64,
    ) -> Result<u64> {
        let name = table.display_name();
        let encodings: Vec<Encoding> = table
            .encodings
            .iter()
            .map(|e| {
                Encoding::parse(e).ok_or_else(|| {
                    Error::manifest(key, format!("unknown column encoding '{e}' of table {name}"))
                })
            })
            .collect::<Result<_>>()?;
        if table.format != FORMAT_TSV {
            return Err(Error::manifest(
                key,
                format!("table {name} has data format '{}', not {FORMAT_TSV}", table.format),
            ));
        }
        let target = qualified(&self.database, &table.name);
        let (columns, set) = tsv::load_columns(&table.columns, &encodings);
        let sql = format!(
            "LOAD DATA LOCAL INFILE 'streamdump' INTO TABLE {target} CHARACTER SET binary {} \
             {columns}{set}",
            tsv::DIALECT
        );
        // The decoder's verdict, kept typed: the driver only passes on an I/O error's text.
        let verdict: Arc<Mutex<Option<Error>>> = Arc::new(Mutex::new(None));
        let seen = verdict.clone();
        let stream = data.map(move |item| match item {
            Ok(bytes) => Ok(bytes),
            Err(e) => {
                let message = e.to_string();
                if let Ok(mut slot) = seen.lock() {
                    *slot = Some(e);
                }
                Err(std::io::Error::other(message))
            }
        });
        // The driver wants a Sync future; a Mutex makes the Send-only stream Sync.
        let cell = Mutex::new(Some(stream.boxed()));
        self.conn.set_infile_handler(async move {
            cell.into_inner().ok().flatten().ok_or_else(|| {
                mysql_async::Error::Other("the chunk stream was already used".into())
            })
        });
        let context = format!("loading {key} into table {name}");
        self.conn.query_drop("START TRANSACTION").await.map_err(db_err(context.clone()))?;
        let loaded = self.conn.query_drop(sql.as_str()).await;
        if let Some(e) = verdict.lock().ok().and_then(|mut v| v.take()) {
            self.discard(table).await;
            return Err(e);
        }
        if let Err(e) = loaded {
            self.discard(table).await;
            return Err(match server_code(&e) {
                Some(code::LOCAL_INFILE_DISABLED | code::LOCAL_INFILE_DISABLED_8) => {
                    Error::database(
                        context,
                        format!(
                            "{}; the target must allow LOAD DATA LOCAL INFILE (local_infile = 1)",
                            describe(&e)
                        ),
                    )
                }
                _ => Error::database(context, describe(&e)),
            });
        }
        let affected = self.conn.affected_rows();
        let warnings = self.conn.get_warnings();
        if warnings > 0 {
            let shown = self
                .conn
                .query::<Row, _>("SHOW WARNINGS LIMIT 3")
                .await
                .map(|rows| rows.iter().filter_map(|r| text(r, 2)).collect::<Vec<_>>().join("; "))
                .unwrap_or_default();
            self.discard(table).await;
            return Err(Error::integrity(
                key,
                format!(
                    "loading into table {name} raised {warnings} warning(s), rolled back: {shown}"
                ),
            ));
        }
        if affected != expected_rows {
            self.discard(table).await;
            return Err(Error::integrity(
                key,
                format!(
                    "loaded {affected} rows into table {name}, the manifest says {expected_rows}; rolled back"
                ),
            ));
        }
        self.conn.query_drop("COMMIT").await.map_err(db_err(context))?;
        Ok(affected)
    }
}
