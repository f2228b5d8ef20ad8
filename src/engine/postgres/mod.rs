//! PostgreSQL engine (tokio-postgres): pg_dump's snapshot recipe for backup, COPY both ways.
//!
//! Backup: a leader connection sets pg_dump's session (`search_path=''` so every name the
//! server prints is schema-qualified, `extra_float_digits=3`, ISO dates, `row_security=off`, no
//! timeouts), opens `REPEATABLE READ READ ONLY`, exports its snapshot, locks every dumped table
//! `IN ACCESS SHARE MODE` and only then reads the catalogs, so the DDL and the data describe the
//! same instant. Workers import the snapshot with `SET TRANSACTION SNAPSHOT` and stream
//! `COPY ... TO STDOUT` (text format: one CopyData message is one row). The leader stays open
//! until the data is read, then reads sequence values.
//!
//! Restore (the target and its loaders) is in `load.rs`.

mod load;
mod schema;

pub use load::PostgresTarget;

use std::fmt::Write as _;

use async_trait::async_trait;
use tokio_postgres::config::SslMode;
use tokio_postgres::{Client, NoTls};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::{RowStream, Selection, Snapshot, Source, SourceWorker, TableSpec};
use crate::error::{Error, Result};
use crate::manifest::{Consistency, Requires, SequenceValue, SourceInfo};
use crate::plan::ConnectionUrl;
use crate::tls::TlsMode;

/// The data format of Postgres data objects.
pub const FORMAT_COPY_TEXT: &str = "copy_text";

/// Quote an identifier the way the server does for `%I` when quoting is needed; we always quote,
/// which is never wrong.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `"schema"."name"`.
pub fn qualified(schema: &str, name: &str) -> String {
    format!("{}.{}", quote_ident(schema), quote_ident(name))
}

/// A driver error as one line: the server's message (with detail and hint) or the I/O cause.
pub(crate) fn describe(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        let mut s = format!("{}: {}", db.severity(), db.message());
        if let Some(detail) = db.detail() {
            let _ = write!(s, " ({detail})");
        }
        if let Some(hint) = db.hint() {
            let _ = write!(s, " hint: {hint}");
        }
        return s;
    }
    if e.is_closed() {
        // A backend terminated while blocked sending COPY data never sends its FATAL message
        // (postgres.c, ProcessClientWriteInterrupt): the socket just closes. Say what that means,
        // as libpq does.
        return "the server closed the connection unexpectedly: it was terminated (by an administrator \
                or a server restart) or the network failed"
            .into();
    }
    let mut s = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        let _ = write!(s, ": {cause}");
        source = cause.source();
    }
    s
}

fn db_err(context: impl Into<String>) -> impl FnOnce(tokio_postgres::Error) -> Error {
    let context = context.into();
    move |e| Error::database(context, describe(&e))
}

/// `application_name` of our connections, unless the URL sets one: lets a DBA see (and a test
/// find) what streamdump is doing in `pg_stat_activity`.
pub const APPLICATION_NAME: &str = "streamdump";

async fn connect(url: &ConnectionUrl) -> Result<Client> {
    let mut config: tokio_postgres::Config = url
        .expose()
        .parse()
        .map_err(|e: tokio_postgres::Error| Error::invalid(format!("URL '{url}'"), describe(&e)))?;
    if config.get_application_name().is_none() {
        config.application_name(APPLICATION_NAME);
    }
    let refused = |e: tokio_postgres::Error| {
        let reason = describe(&e);
        let mode = url.tls().mode;
        let tls_related = match mode {
            TlsMode::VerifyFull => reason.contains("certificate"),
            TlsMode::Require => reason.contains("TLS") || reason.contains("SSL"),
            _ => false,
        };
        let reason = match mode.refusal_hint() {
            Some(hint) if tls_related => format!("{reason} ({hint})"),
            _ => reason,
        };
        Error::Connect { target: url.to_string(), reason }
    };
    let client = match url.tls().client_config()? {
        None => {
            config.ssl_mode(SslMode::Disable);
            let (client, connection) = config.connect(NoTls).await.map_err(refused)?;
            spawn_connection(connection);
            client
        }
        Some(tls) => {
            config.ssl_mode(match url.tls().mode {
                TlsMode::Prefer => SslMode::Prefer,
                _ => SslMode::Require,
            });
            let (client, connection) =
                config.connect(MakeRustlsConnect::new(tls)).await.map_err(refused)?;
            spawn_connection(connection);
            client
        }
    };
    Ok(client)
}

fn spawn_connection<F>(connection: F)
where
    F: Future<Output = std::result::Result<(), tokio_postgres::Error>> + Send + 'static,
{
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %describe(&e), "postgres connection closed with an error");
        }
    });
}

/// pg_dump's dump session settings. `encoding` is set only on COPY connections, so data bytes
/// come out exactly as stored; catalog connections stay UTF8, which tokio-postgres requires to
/// decode text.
async fn dump_session(client: &Client, encoding: Option<&str>) -> Result<()> {
    let sql = format!(
        "{enc}SELECT pg_catalog.set_config('search_path', '', false); \
         SET extra_float_digits TO 3; SET DateStyle = ISO; SET IntervalStyle = postgres; \
         SET row_security = off; SET statement_timeout = 0; SET lock_timeout = 0; \
         SET idle_in_transaction_session_timeout = 0; SET synchronize_seqscans TO off; \
         SELECT pg_catalog.set_config(name, 'view, foreign-table', false) FROM pg_catalog.pg_settings \
         WHERE name = 'restrict_nonsystem_relation_kind'",
        enc = encoding
            .map(|e| format!("SET client_encoding TO {}; ", quote_literal(e)))
            .unwrap_or_default()
    );
    client.batch_execute(&sql).await.map_err(db_err("setting up the dump session"))
}

/// Restore session settings; `synchronous_commit=off` is safe because a restore is only done when
/// it finishes, and the final synchronous commit flushes everything before it.
async fn restore_session(client: &Client, encoding: Option<&str>) -> Result<()> {
    let sql = format!(
        "{enc}SELECT pg_catalog.set_config('search_path', '', false); \
         SET DateStyle = ISO; SET IntervalStyle = postgres; SET extra_float_digits TO 3; \
         SET row_security = off; SET statement_timeout = 0; SET lock_timeout = 0; \
         SET idle_in_transaction_session_timeout = 0; SET check_function_bodies = false; \
         SET client_min_messages = warning; SET synchronous_commit = off",
        enc = encoding
            .map(|e| format!("SET client_encoding TO {}; ", quote_literal(e)))
            .unwrap_or_default()
    );
    client.batch_execute(&sql).await.map_err(db_err("setting up the restore session"))
}

pub fn quote_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Backup side.
pub struct PostgresSource {
    url: ConnectionUrl,
    leader: Option<Client>,
    snapshot_id: Option<String>,
    encoding: String,
    /// Sequences whose values are read after the data: (schema, name).
    sequences: Vec<(String, String)>,
}

impl PostgresSource {
    pub fn new(url: ConnectionUrl) -> Self {
        PostgresSource {
            url,
            leader: None,
            snapshot_id: None,
            encoding: String::new(),
            sequences: Vec::new(),
        }
    }

    fn leader(&self) -> Result<&Client> {
        self.leader.as_ref().ok_or_else(|| Error::database("postgres source", "snapshot not begun"))
    }
}

#[async_trait]
impl Source for PostgresSource {
    async fn begin(&mut self, selection: &Selection, workers: usize) -> Result<Snapshot> {
        let client = connect(&self.url).await?;
        let row = client
            .query_one(
                "SELECT pg_catalog.pg_encoding_to_char(encoding), current_setting('server_version'), \
                 current_database(), datcollate::text, datctype::text FROM pg_catalog.pg_database \
                 WHERE datname = current_database()",
                &[],
            )
            .await
            .map_err(db_err("reading server information"))?;
        let (encoding, server_version, database): (String, String, String) =
            (row.get(0), row.get(1), row.get(2));
        let (lc_collate, lc_ctype): (String, String) = (row.get(3), row.get(4));
        dump_session(&client, None).await?;
        client
            .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .await
            .map_err(db_err("starting the snapshot transaction"))?;
        let row = client
            .query_one(
                "SELECT pg_catalog.pg_export_snapshot(), now(), \
                 (CASE WHEN pg_catalog.pg_is_in_recovery() THEN pg_catalog.pg_last_wal_replay_lsn() \
                  ELSE pg_catalog.pg_current_wal_lsn() END)::text",
                &[],
            )
            .await
            .map_err(db_err("exporting the snapshot"))?;
        let snapshot_id: String = row.get(0);
        let snapshot_at: chrono::DateTime<chrono::Utc> = row.get(1);
        let wal_lsn: Option<String> = row.get(2);

        let schemas = schema::resolve_schemas(&client, &selection.schemas).await?;
        let catalog = schema::read_tables(
            &client,
            &schemas,
            &selection.exclude_tables,
            selection.schemas.is_empty(),
        )
        .await?;
        lock_tables(&client, &catalog.tables).await?;
        let generated = schema::generate(&client, &schemas, &catalog).await?;
        if !generated.unsupported.is_empty() && !selection.skip_unsupported {
            return Err(Error::Unsupported {
                reason: format!(
                    "this version cannot reproduce {} object(s): {}; rerun with --skip-unsupported to back up \
                     everything else and record these in the manifest",
                    generated.unsupported.len(),
                    generated.unsupported.join("; ")
                ),
            });
        }
        self.sequences = generated.sequences.clone();
        self.encoding = encoding.clone();
        self.snapshot_id = Some(snapshot_id.clone());
        self.leader = Some(client);
        let mut skipped = generated.unsupported;
        skipped.extend(generated.skipped);
        Ok(Snapshot {
            info: SourceInfo {
                engine: "postgres".into(),
                server_version,
                database,
                encoding,
                lc_collate: Some(lc_collate),
                lc_ctype: Some(lc_ctype),
            },
            consistency: Consistency {
                mode: "exported_snapshot".into(),
                snapshot_id: Some(snapshot_id),
                wal_lsn,
                binlog_file: None,
                binlog_position: None,
                gtid_set: None,
                workers: workers as u32,
            },
            snapshot_at,
            schemas,
            tables: catalog.tables.iter().map(|t| t.spec.clone()).collect(),
            scripts: generated.scripts,
            requires: Requires {
                roles: generated.roles.always,
                owner_roles: generated.roles.owners,
                privilege_roles: generated.roles.privileges,
                extensions: generated.extensions,
            },
            skipped,
        })
    }

    async fn worker(&self) -> Result<Box<dyn SourceWorker>> {
        let snapshot_id = self
            .snapshot_id
            .as_ref()
            .ok_or_else(|| Error::database("postgres worker", "snapshot not begun"))?;
        let client = connect(&self.url).await?;
        dump_session(&client, Some(&self.encoding)).await?;
        client
            .batch_execute(&format!(
                "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY; SET TRANSACTION SNAPSHOT {}",
                quote_literal(snapshot_id)
            ))
            .await
            .map_err(db_err(format!("importing snapshot {snapshot_id} in a worker connection")))?;
        Ok(Box::new(PostgresWorker { client }))
    }

    async fn sequences(&self) -> Result<Vec<SequenceValue>> {
        let client = self.leader()?;
        let mut values = Vec::with_capacity(self.sequences.len());
        for (schema, name) in &self.sequences {
            let sql = format!("SELECT last_value, is_called FROM {}", qualified(schema, name));
            let row = client
                .query_one(&sql, &[])
                .await
                .map_err(db_err(format!("reading sequence {schema}.{name}")))?;
            values.push(SequenceValue {
                schema: schema.clone(),
                name: name.clone(),
                last_value: row.get(0),
                is_called: row.get(1),
            });
        }
        Ok(values)
    }

    async fn finish(&mut self) -> Result<()> {
        if let Some(client) = self.leader.take() {
            client.batch_execute("COMMIT").await.map_err(db_err("ending the snapshot"))?;
        }
        Ok(())
    }
}

async fn lock_tables(client: &Client, tables: &[schema::CatalogTable]) -> Result<()> {
    for batch in tables.chunks(500) {
        let names: Vec<String> =
            batch.iter().map(|t| qualified(&t.spec.schema, &t.spec.name)).collect();
        let sql = format!("LOCK TABLE {} IN ACCESS SHARE MODE", names.join(", "));
        client.batch_execute(&sql).await.map_err(db_err("locking the tables to back up"))?;
    }
    Ok(())
}

struct PostgresWorker {
    client: Client,
}

fn copy_columns(columns: &[String]) -> String {
    columns.iter().map(|c| quote_ident(c)).collect::<Vec<_>>().join(", ")
}

#[async_trait]
impl SourceWorker for PostgresWorker {
    async fn copy_out(&mut self, table: &TableSpec, range: Option<&str>) -> Result<RowStream> {
        let name = table.display_name();
        if let Some(range) = range {
            // The PostgreSQL source never splits a table (it leaves `ranges` empty).
            return Err(Error::database(
                format!("reading table {name}"),
                format!("key range '{range}' asked of a source that reads tables whole"),
            ));
        }
        let sql = if let Some(filter) = &table.filter {
            // An extension's configuration table: only the rows its condition selects.
            let columns = if table.columns.is_empty() {
                "*".to_string()
            } else {
                copy_columns(&table.columns)
            };
            format!(
                "COPY (SELECT {columns} FROM ONLY {} {filter}) TO STDOUT",
                qualified(&table.schema, &table.name)
            )
        } else if table.columns.is_empty() {
            // A table with no columns still has rows; COPY of the bare table writes empty lines.
            format!("COPY {} TO STDOUT", qualified(&table.schema, &table.name))
        } else {
            format!(
                "COPY {} ({}) TO STDOUT",
                qualified(&table.schema, &table.name),
                copy_columns(&table.columns)
            )
        };
        // The leader holds ACCESS SHARE already. If another session is queued for ACCESS
        // EXCLUSIVE, a plain lock request here would queue behind it: an undetectable deadlock.
        // NOWAIT fails fast instead (pg_dump's lockTableForWorker).
        let lock = format!(
            "LOCK TABLE {} IN ACCESS SHARE MODE NOWAIT",
            qualified(&table.schema, &table.name)
        );
        self.client
            .batch_execute(&lock)
            .await
            .map_err(db_err(format!("locking table {name} in a worker")))?;
        let stream = self
            .client
            .copy_out(sql.as_str())
            .await
            .map_err(db_err(format!("reading table {name}")))?;
        let context = format!("reading table {name}");
        Ok(Box::pin(super::batch::Batched::new(stream, move |e: tokio_postgres::Error| {
            Error::database(context.as_str(), describe(&e))
        })))
    }
}
