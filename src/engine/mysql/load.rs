//! Restore side of the MySQL engine: the target database, its preflight, schema statements
//! (with the definer policy) and each chunk loaded by `LOAD DATA LOCAL INFILE` in its own
//! transaction.

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use futures_util::StreamExt;
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row};

use super::tsv::{self, Encoding};
use super::{
    FORMAT_TSV, code, connect, db_err, ddl, describe, qualified, quote_ident, quote_str, rows,
    server_code, text,
};
use crate::engine::{CommitGate, Loader, RawStream, Target};
use crate::error::{Error, Result};
use crate::manifest::{Requires, SequenceValue, SourceInfo, Table};
use crate::plan::{ConnectionUrl, Definer};

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
        for statement in crate::engine::script::parse(sql) {
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

/// The line of a statement that names the object (its CREATE), for error messages.
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
        gate: &dyn CommitGate,
    ) -> Result<u64> {
        let name = table.display_name();
        let encodings = Encoding::parse_all(&table.encodings).map_err(|e| {
            Error::manifest(key, format!("unknown column encoding '{e}' of table {name}"))
        })?;
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
            return Err(load_error(context, &e));
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
        if let Err(e) = gate.settle(affected).await {
            self.discard(table).await;
            return Err(e);
        }
        self.conn.query_drop("COMMIT").await.map_err(db_err(context))?;
        Ok(affected)
    }
}

/// The error of a failed `LOAD DATA` of one chunk (already rolled back).
fn load_error(context: String, e: &mysql_async::Error) -> Error {
    match server_code(e) {
        // MariaDB and MySQL 5.7 say 1148; MySQL 8.0 says 3948 (local_infile off on the server)
        // and 2068 when the client refused the request (our driver never does).
        Some(code::LOCAL_INFILE_DISABLED | code::LOCAL_INFILE_DISABLED_8) => Error::database(
            context,
            format!(
                "{}; the target must allow LOAD DATA LOCAL INFILE (local_infile = 1)",
                describe(e)
            ),
        ),
        // InnoDB rolled the chunk back (discard made sure): it may be loaded again.
        Some(code::DEADLOCK | code::LOCK_WAIT_TIMEOUT) => {
            Error::LockConflict { context, reason: describe(e) }
        }
        _ => Error::database(context, describe(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(code: u16, message: &str) -> mysql_async::Error {
        mysql_async::Error::Server(mysql_async::ServerError {
            code,
            message: message.into(),
            state: "HY000".into(),
        })
    }

    #[test]
    fn load_errors_say_what_the_target_must_allow_or_that_a_retry_is_safe() {
        let context = || "loading data/shop/t/000001.tsv.zst into table `t`".to_string();
        // MariaDB (1148) and MySQL 8.0 (3948) refuse LOCAL INFILE with different codes.
        for (code, text) in [
            (1148, "The used command is not allowed with this MariaDB version"),
            (
                3948,
                "Loading local data is disabled; this must be enabled on both the client and server sides",
            ),
        ] {
            let message = load_error(context(), &server(code, text)).to_string();
            assert!(message.contains("local_infile = 1"), "{code}: {message}");
            assert!(message.contains("000001.tsv.zst") && message.contains(text), "{message}");
        }
        for code in [1213, 1205] {
            let e = load_error(context(), &server(code, "Deadlock found"));
            assert!(matches!(e, Error::LockConflict { .. }), "{code}: {e:?}");
        }
        let other = load_error(context(), &server(1062, "Duplicate entry '1' for key 'PRIMARY'"));
        assert!(matches!(other, Error::Database { .. }), "{other:?}");
        assert!(!other.to_string().contains("local_infile"), "{other}");
    }
}
