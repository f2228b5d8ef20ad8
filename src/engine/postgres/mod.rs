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
//! Restore: each chunk is one `COPY ... FROM STDIN` in its own transaction; the sink is finished
//! (and the transaction committed) only when the stream ended cleanly and the row count is
//! right; otherwise the sink is dropped, which aborts the COPY, and the transaction rolls back.

mod schema;

use std::fmt::Write as _;

use async_trait::async_trait;
use futures_util::{SinkExt, StreamExt};
use tokio_postgres::config::SslMode;
use tokio_postgres::{Client, NoTls};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::{
    Loader, RawStream, RowStream, Selection, Snapshot, Source, SourceWorker, TableSpec, Target,
};
use crate::error::{Error, Result};
use crate::manifest::{Consistency, Requires, SequenceValue, SourceInfo, Table};
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
    async fn copy_out(&mut self, table: &TableSpec) -> Result<RowStream> {
        let name = table.display_name();
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

/// Restore side.
pub struct PostgresTarget {
    url: ConnectionUrl,
    client: Client,
    encoding: String,
    /// This restore created the database (`--create`).
    created: bool,
}

impl PostgresTarget {
    /// Connect to the target database, creating it first when `create` is set and it is missing.
    pub async fn connect(url: ConnectionUrl, source: &SourceInfo, create: bool) -> Result<Self> {
        let encoding = source.encoding.as_str();
        let mut created = false;
        let client = match connect(&url).await {
            Ok(client) => client,
            Err(Error::Connect { reason, .. }) if reason.contains("does not exist") && create => {
                create_database(&url, source).await?;
                created = true;
                connect(&url).await?
            }
            Err(Error::Connect { target, reason }) if reason.contains("does not exist") => {
                return Err(Error::Connect {
                    target,
                    reason: format!("{reason}; create it first or pass --create"),
                });
            }
            Err(e) => return Err(e),
        };
        restore_session(&client, None).await?;
        Ok(PostgresTarget { url, client, encoding: encoding.to_string(), created })
    }
}

async fn create_database(url: &ConnectionUrl, source: &SourceInfo) -> Result<()> {
    let maintenance = url.with_database("postgres")?;
    let client = connect(&maintenance).await?;
    let name = url.database();
    let create = |collate: &str, ctype: &str| {
        format!(
            "CREATE DATABASE {} TEMPLATE template0 ENCODING {} LC_COLLATE {} LC_CTYPE {}",
            quote_ident(name),
            quote_literal(&source.encoding),
            quote_literal(collate),
            quote_literal(ctype)
        )
    };
    let collate = source.lc_collate.as_deref().unwrap_or("C");
    let ctype = source.lc_ctype.as_deref().unwrap_or("C");
    match client.batch_execute(&create(collate, ctype)).await {
        Ok(()) => Ok(()),
        Err(e) if collate != "C" || ctype != "C" => {
            // The target may lack the source's locale (or it may not fit the encoding there).
            // The C locale works with every encoding; text may then sort differently from the
            // source, which the warning says.
            tracing::warn!(
                database = name,
                error = %describe(&e),
                "cannot create the database with the source's locale ({collate}/{ctype}); using C"
            );
            client
                .batch_execute(&create("C", "C"))
                .await
                .map_err(db_err(format!("creating database {name}")))
        }
        Err(e) => Err(Error::database(format!("creating database {name}"), describe(&e))),
    }
}

#[async_trait]
impl Target for PostgresTarget {
    async fn preflight(
        &self,
        schemas: &[String],
        requires: &Requires,
        replace: bool,
    ) -> Result<()> {
        let target = self.url.to_string();
        let missing_roles: Vec<String> = self
            .client
            .query(
                "SELECT r FROM unnest($1::text[]) r WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = r)",
                &[&requires.roles],
            )
            .await
            .map_err(db_err("checking required roles"))?
            .iter()
            .map(|r| r.get(0))
            .collect();
        let names: Vec<String> = requires.extensions.iter().map(|e| e.name.clone()).collect();
        let missing_ext: Vec<String> = self
            .client
            .query(
                "SELECT e FROM unnest($1::text[]) e WHERE NOT EXISTS \
                 (SELECT 1 FROM pg_catalog.pg_available_extensions WHERE name = e)",
                &[&names],
            )
            .await
            .map_err(db_err("checking required extensions"))?
            .iter()
            .map(|r| r.get(0))
            .collect();
        if !missing_roles.is_empty() || !missing_ext.is_empty() {
            return Err(Error::Database {
                context: format!("preflight on {target}"),
                reason: format!(
                    "missing roles: [{}]; extensions not available: [{}]; nothing was changed",
                    missing_roles.join(", "),
                    missing_ext.join(", ")
                ),
            });
        }
        let occupied = self
            .client
            .query(
                "SELECT n.nspname, count(*) FROM pg_catalog.pg_namespace n JOIN ( \
                   SELECT relnamespace AS ns FROM pg_catalog.pg_class WHERE relkind IN ('r','p','v','m','S','f','c') \
                   UNION ALL SELECT typnamespace FROM pg_catalog.pg_type WHERE typtype IN ('e','d','r') \
                 ) o ON o.ns = n.oid WHERE n.nspname = ANY($1) GROUP BY 1 ORDER BY 1",
                &[&schemas],
            )
            .await
            .map_err(db_err("checking the target schemas are empty"))?;
        if occupied.is_empty() {
            return Ok(());
        }
        let list: Vec<String> = occupied
            .iter()
            .map(|r| {
                format!(
                    "schema {} holds {} relation(s) or type(s)",
                    r.get::<_, String>(0),
                    r.get::<_, i64>(1)
                )
            })
            .collect();
        if !replace {
            return Err(Error::TargetNotEmpty { target, reason: list.join(", ") });
        }
        tracing::warn!(target = %target, schemas = ?schemas, "--replace: dropping the schemas before restoring");
        let mut sql = String::from("BEGIN;");
        for schema in schemas {
            let _ = write!(sql, "DROP SCHEMA IF EXISTS {} CASCADE;", quote_ident(schema));
            if schema == "public" {
                // Put back PostgreSQL 15's default public schema, which pre-data does not create.
                sql.push_str(
                    "CREATE SCHEMA public; ALTER SCHEMA public OWNER TO pg_database_owner; \
                     GRANT USAGE ON SCHEMA public TO PUBLIC; COMMENT ON SCHEMA public IS 'standard public schema';",
                );
            }
        }
        sql.push_str("COMMIT;");
        self.client.batch_execute(&sql).await.map_err(db_err(format!("--replace on {target}")))
    }

    async fn execute_script(&self, sql: &str, what: &str) -> Result<()> {
        if sql.trim().is_empty() {
            return Ok(());
        }
        // One simple-query message: the server runs it as one implicit transaction, so a script
        // applies entirely or not at all.
        self.client.batch_execute(sql).await.map_err(db_err(format!("executing {what}")))
    }

    async fn loader(&self) -> Result<Box<dyn Loader>> {
        let client = connect(&self.url).await?;
        restore_session(&client, Some(&self.encoding)).await?;
        Ok(Box::new(PostgresLoader { client }))
    }

    async fn set_sequences(&self, sequences: &[SequenceValue]) -> Result<()> {
        for s in sequences {
            let name = qualified(&s.schema, &s.name);
            self.client
                .execute(
                    "SELECT pg_catalog.setval($1::text::regclass, $2, $3)",
                    &[&name, &s.last_value, &s.is_called],
                )
                .await
                .map_err(db_err(format!("setting sequence {}.{}", s.schema, s.name)))?;
        }
        Ok(())
    }

    async fn abandon(&self) -> Result<bool> {
        if !self.created {
            return Ok(false);
        }
        let maintenance = self.url.with_database("postgres")?;
        let client = connect(&maintenance).await?;
        let sql =
            format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", quote_ident(self.url.database()));
        client
            .batch_execute(&sql)
            .await
            .map_err(db_err(format!("dropping database {}", self.url.database())))?;
        Ok(true)
    }

    async fn empty_table(&self, table: &Table) -> Result<()> {
        let name = qualified(&table.schema, &table.name);
        let sql = match (&table.filter, &table.load_via) {
            // Only the rows the backup added: the extension's own stay.
            (Some(filter), _) => format!("DELETE FROM ONLY {name} {filter}"),
            // Rows loaded through the root went to any partition: empty the whole tree.
            (None, Some((schema, root))) => format!("TRUNCATE {}", qualified(schema, root)),
            (None, None) => format!("TRUNCATE ONLY {name}"),
        };
        self.client
            .batch_execute(&sql)
            .await
            .map_err(db_err(format!("emptying {}", table.display_name())))
    }
}

struct PostgresLoader {
    client: Client,
}

#[async_trait]
impl Loader for PostgresLoader {
    async fn execute(&mut self, sql: &str, what: &str) -> Result<()> {
        self.client.batch_execute(sql).await.map_err(db_err(format!("executing {what}")))
    }

    async fn analyze(&mut self, table: &Table) -> Result<()> {
        let sql = format!("ANALYZE {}", qualified(&table.schema, &table.name));
        self.client
            .batch_execute(&sql)
            .await
            .map_err(db_err(format!("analyzing {}", table.display_name())))
    }

    async fn load_chunk(
        &mut self,
        table: &Table,
        key: &str,
        mut data: RawStream,
        expected_rows: u64,
    ) -> Result<u64> {
        let name = table.display_name();
        let context = format!("loading {key} into {name}");
        let tx = self.client.transaction().await.map_err(db_err(context.clone()))?;
        let target = match &table.load_via {
            Some((schema, root)) => qualified(schema, root),
            None => qualified(&table.schema, &table.name),
        };
        // A table's only chunk: truncating the table (created empty by this restore) in the
        // COPY's own transaction lets COPY FREEZE write its rows frozen and its pages
        // all-visible, so the index builds and ANALYZE that follow, and the first VACUUM, do not
        // rewrite every page to set hint bits. Never with several chunks: the TRUNCATE would
        // remove the rows other chunks committed, nor into a table that has rows of its own (an
        // extension's configuration table).
        let freeze = table.chunks.len() == 1 && table.filter.is_none() && table.load_via.is_none();
        if freeze {
            tx.batch_execute(&format!("TRUNCATE ONLY {target}"))
                .await
                .map_err(db_err(context.clone()))?;
        }
        let columns = if table.columns.is_empty() {
            String::new()
        } else {
            format!(" ({})", copy_columns(&table.columns))
        };
        let sql =
            format!("COPY {target}{columns} FROM STDIN{}", if freeze { " (FREEZE)" } else { "" });
        let sink =
            tx.copy_in::<_, bytes::Bytes>(sql.as_str()).await.map_err(db_err(context.clone()))?;
        let mut sink = Box::pin(sink);
        let mut failure = None;
        while let Some(item) = data.next().await {
            match item {
                Ok(bytes) if bytes.is_empty() => {}
                Ok(bytes) => {
                    if let Err(e) = sink.send(bytes).await {
                        failure = Some(Error::database(context.clone(), describe(&e)));
                        break;
                    }
                }
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        if let Some(e) = failure {
            // Dropping the unfinished sink aborts the COPY; then the transaction rolls back.
            drop(sink);
            let _ = tx.rollback().await;
            return Err(e);
        }
        let rows = sink.as_mut().finish().await.map_err(db_err(context.clone()))?;
        if rows != expected_rows {
            let _ = tx.rollback().await;
            return Err(Error::integrity(
                key,
                format!("loaded {rows} rows into {name}, manifest says {expected_rows}"),
            ));
        }
        tx.commit().await.map_err(db_err(context))?;
        Ok(rows)
    }
}
