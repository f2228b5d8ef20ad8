//! Orchestrates a restore: manifest -> preflight -> pre-data -> data (each table's keys,
//! indexes and ANALYZE as soon as its data is in) -> sequences -> the rest of post-data.
//!
//! Nothing in the target is touched until the manifest parsed, the schema scripts downloaded and
//! verified, and the target's preflight passed. Each data chunk streams from the store through
//! the verifying decoder into its own COPY transaction: the decoder's verdict arrives as the
//! stream's last item, before the loader commits, so a corrupt chunk never becomes visible. If
//! the restore fails part-way, every table left partly loaded is emptied, so no table looks
//! complete when it is not. The loaders themselves are in [`loaders`]; a chunk loaded over
//! several connections at once, in [`shared`].

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt};
use serde::Serialize;

use crate::backup::Observer;
use crate::codec::{ChunkDecoder, Digest};
use crate::engine::mysql::MysqlTarget;
use crate::engine::postgres::PostgresTarget;
use crate::engine::{RawStream, Target, script};
use crate::error::{Error, Result};
use crate::manifest::{Manifest, Section};
use crate::plan::{Definer, EngineKind, RestorePlan};
use crate::store::{self, ByteStream, Store};
use loaders::{LoadContext, load_data};

mod loaders;
mod shared;

/// What a finished restore reports.
#[derive(Debug, Clone, Serialize)]
pub struct RestoreReport {
    pub backup_id: String,
    pub target: String,
    pub tables: u64,
    pub rows: u64,
    pub raw_bytes: u64,
    /// Bytes read from the store (compressed).
    pub stored_bytes: u64,
    pub sequences: u64,
    /// Chunks loaded over more than one connection at once (PostgreSQL: a loader with nothing
    /// left to start joins the biggest chunk still being loaded).
    pub shared_chunks: u64,
    pub duration_secs: f64,
}

/// Read and parse a backup's manifest; errors name its URL.
pub async fn read_manifest(store: &Arc<dyn Store>, key: &str) -> Result<Manifest> {
    let url = store.url(key);
    let bytes = match store.get_bytes(key).await {
        Ok(bytes) => bytes,
        Err(Error::NotFound { .. }) => {
            return Err(Error::manifest(
                url,
                "not found (a backup without a manifest is incomplete or does not exist)",
            ));
        }
        Err(e) => return Err(e),
    };
    Manifest::from_json(&url, &bytes)
}

enum Decode {
    Start(Arc<dyn Store>, String),
    Reading(ByteStream, Box<ChunkDecoder>),
    Done,
}

/// An object's raw bytes, verified as they stream: decoding errors, and at the end any
/// mismatch with `expect`, arrive as an `Err` item naming the object's URL.
pub fn verified_stream(
    store: Arc<dyn Store>,
    key: &str,
    expect: Digest,
    check_rows: bool,
) -> RawStream {
    let start = Decode::Start(store, key.to_string());
    Box::pin(futures_util::stream::unfold(start, move |state| {
        let expect = expect.clone();
        async move {
            let (mut stored, mut decoder) = match state {
                Decode::Done => return None,
                Decode::Start(store, key) => {
                    let url = store.url(&key);
                    let opened = match store.get(&key).await {
                        Ok(stream) => ChunkDecoder::new(url).map(|d| (stream, Box::new(d))),
                        Err(e) => Err(e),
                    };
                    match opened {
                        Ok(pair) => pair,
                        Err(e) => return Some((Err(e), Decode::Done)),
                    }
                }
                Decode::Reading(stored, decoder) => (stored, decoder),
            };
            loop {
                match stored.next().await {
                    Some(Ok(bytes)) => match decoder.decode(&bytes) {
                        Ok(raw) if raw.is_empty() => continue,
                        Ok(raw) => return Some((Ok(raw), Decode::Reading(stored, decoder))),
                        Err(e) => return Some((Err(e), Decode::Done)),
                    },
                    Some(Err(e)) => return Some((Err(e), Decode::Done)),
                    None => {
                        return match decoder.finish(&expect, check_rows) {
                            Ok(_) => None,
                            Err(e) => Some((Err(e), Decode::Done)),
                        };
                    }
                }
            }
        }
    }))
}

/// Download and verify a small object (a schema script) as text.
async fn read_script(store: &Arc<dyn Store>, key: &str, expect: &Digest) -> Result<String> {
    let parts: Vec<Bytes> =
        verified_stream(store.clone(), key, expect.clone(), false).try_collect().await?;
    String::from_utf8(parts.concat())
        .map_err(|_| Error::integrity(store.url(key), "schema script is not UTF-8"))
}

pub async fn run(plan: &RestorePlan, observer: Arc<dyn Observer>) -> Result<RestoreReport> {
    let started = Instant::now();
    let store = store::open(&plan.backup, &plan.store).await?;
    let mut manifest = read_manifest(&store, &plan.manifest_key).await?;
    let selected = select_schemas(&mut manifest, &plan.schemas)?;
    let engine = match manifest.source.engine.as_str() {
        "postgres" => EngineKind::Postgres,
        "mysql" => EngineKind::Mysql,
        other => {
            return Err(Error::manifest(
                store.url(&plan.manifest_key),
                format!("engine '{other}' cannot be restored by this version"),
            ));
        }
    };
    if engine != plan.target.engine() {
        return Err(Error::invalid(
            format!("target URL '{}'", plan.target),
            format!("the backup is of a {} database", manifest.source.engine),
        ));
    }
    if engine == EngineKind::Postgres && plan.definer != Definer::Keep {
        return Err(Error::invalid("--definer", "applies to MySQL backups only"));
    }
    // MySQL scripts hold no owner or privilege statements: the two flags leave nothing out.
    let filter = ScriptFilter {
        schemas: selected,
        no_owner: plan.no_owner,
        no_privileges: plan.no_privileges,
    };
    let mut scripts = Vec::new();
    for object in &manifest.schema {
        scripts.push((
            object.section,
            object.key.clone(),
            filter_script(read_script(&store, &object.key, &object.digest).await?, &filter),
        ));
    }
    let target: Arc<dyn Target> = match engine {
        EngineKind::Postgres => Arc::new(
            PostgresTarget::connect(plan.target.clone(), &manifest.source, plan.create).await?,
        ),
        EngineKind::Mysql => Arc::new(
            MysqlTarget::connect(
                plan.target.clone(),
                &manifest.source,
                plan.create,
                plan.definer.clone(),
            )
            .await?,
        ),
    };
    let (rows, shared_chunks) =
        match apply(&target, &manifest, &scripts, plan, &store, observer).await {
            Ok(loaded) => loaded,
            Err(e) => {
                return Err(match target.abandon().await {
                    Ok(true) => e.with_note("the database created by --create was dropped again"),
                    Ok(false) => e,
                    Err(drop_error) => e.with_note(format!(
                        "dropping the database created by --create failed: {drop_error}"
                    )),
                });
            }
        };
    let report = RestoreReport {
        backup_id: manifest.backup_id.clone(),
        target: plan.target.to_string(),
        tables: manifest.tables.len() as u64,
        rows,
        raw_bytes: manifest.totals.raw_bytes,
        stored_bytes: manifest.totals.stored_bytes,
        sequences: manifest.sequences.len() as u64,
        shared_chunks,
        duration_secs: started.elapsed().as_secs_f64(),
    };
    tracing::info!(backup_id = %report.backup_id, rows, "restore complete");
    Ok(report)
}

/// Narrow the manifest to the schemas asked for (all when none are); the set of kept schemas,
/// or `None` for all. Asking for a schema the backup does not hold is an error naming it.
fn select_schemas(manifest: &mut Manifest, wanted: &[String]) -> Result<Option<HashSet<String>>> {
    if wanted.is_empty() {
        return Ok(None);
    }
    let held = &manifest.options.schemas;
    if let Some(missing) = wanted.iter().find(|s| !held.contains(s)) {
        return Err(Error::invalid(
            format!("schema '{missing}'"),
            format!("the backup holds only: {}", held.join(", ")),
        ));
    }
    let keep: HashSet<String> = wanted.iter().cloned().collect();
    manifest.options.schemas.retain(|s| keep.contains(s));
    manifest.tables.retain(|t| keep.contains(&t.schema));
    manifest.sequences.retain(|s| keep.contains(&s.schema));
    manifest.totals = crate::manifest::Totals::of(&manifest.schema, &manifest.tables);
    Ok(Some(keep))
}

/// Which statements of the schema scripts a restore runs.
#[derive(Debug, Default)]
struct ScriptFilter {
    /// The schemas restored; `None`: all of them. Statements of no schema always run.
    schemas: Option<HashSet<String>>,
    /// Leave out [`script::Kind::Owner`] statements (`--no-owner`).
    no_owner: bool,
    /// Leave out [`script::Kind::Acl`] statements (`--no-privileges`).
    no_privileges: bool,
}

impl ScriptFilter {
    fn keeps(&self, statement: &script::Statement) -> bool {
        let schema_kept = match (&self.schemas, &statement.schema) {
            (Some(keep), Some(schema)) => keep.contains(schema),
            _ => true,
        };
        schema_kept
            && match statement.kind {
                script::Kind::Create => true,
                script::Kind::Owner => !self.no_owner,
                script::Kind::Acl => !self.no_privileges,
            }
    }

    fn keeps_everything(&self) -> bool {
        self.schemas.is_none() && !self.no_owner && !self.no_privileges
    }
}

/// A schema script without the statements `filter` leaves out, the others with their tags and
/// kinds, so the script reads as the engine wrote it (post-data is parsed again for its table
/// tags). A filter that leaves nothing out returns the script as it is.
fn filter_script(sql: String, filter: &ScriptFilter) -> String {
    if filter.keeps_everything() {
        return sql;
    }
    let mut writer = script::ScriptWriter::default();
    for statement in script::parse(&sql).iter().filter(|s| filter.keeps(s)) {
        writer.push_statement(statement);
    }
    // The section is not written into the text; only the text is kept.
    writer.finish(Section::PreData).sql
}

type Scripts = Vec<(Section, String, String)>;

/// Post-data statements of each table (its keys and indexes), run as soon as its data is in.
type TableStatements = Arc<Mutex<HashMap<(String, String), Vec<String>>>>;

/// Everything that changes the target, in order. Returns the rows loaded.
async fn apply(
    target: &Arc<dyn Target>,
    manifest: &Manifest,
    scripts: &Scripts,
    plan: &RestorePlan,
    store: &Arc<dyn Store>,
    observer: Arc<dyn Observer>,
) -> Result<(u64, u64)> {
    let requires = crate::manifest::Requires {
        roles: manifest.requires.roles_needed(plan.no_owner, plan.no_privileges),
        owner_roles: Vec::new(),
        privilege_roles: Vec::new(),
        extensions: manifest.requires.extensions.clone(),
    };
    target.preflight(&manifest.options.schemas, &requires, plan.replace).await?;
    tracing::info!(backup_id = %manifest.backup_id, target = %plan.target, "restore started");
    for (section, key, sql) in scripts {
        if *section == Section::PreData {
            target.execute_script(sql, &store.url(key)).await?;
        }
    }
    observer.planned(manifest.tables.len(), manifest.totals.raw_bytes);

    // Post-data is split: statements tagged with a table (keys, indexes) run on the loader
    // connection that commits the table's last chunk, overlapping other tables' loading as
    // pg_restore -j does; the rest (foreign keys, which need every key) run after all data.
    let tables: HashSet<(String, String)> =
        manifest.tables.iter().map(|t| (t.schema.clone(), t.name.clone())).collect();
    let mut per_table: HashMap<(String, String), Vec<String>> = HashMap::new();
    let mut serial = Vec::new();
    for (section, key, sql) in scripts {
        if *section != Section::PostData {
            continue;
        }
        let mut rest = String::new();
        for statement in script::parse(sql) {
            match statement.table {
                Some(table) if tables.contains(&table) => {
                    per_table.entry(table).or_default().push(statement.sql)
                }
                _ => {
                    rest.push_str(&statement.sql);
                    rest.push_str("\n\n");
                }
            }
        }
        serial.push((store.url(key), rest));
    }
    let post_data = store.url(&format!("schema/{}.sql.zst", Section::PostData.file_stem()));
    let context = LoadContext::new(
        Arc::new(manifest.clone()),
        store.clone(),
        observer,
        Arc::new(Mutex::new(per_table)),
        post_data,
    );
    let shared = context.shared_chunks();
    let rows = load_data(plan, target, context).await?;
    target.set_sequences(&manifest.sequences).await?;
    for (what, sql) in &serial {
        target.execute_script(sql, what).await?;
    }
    Ok((rows, shared.load(std::sync::atomic::Ordering::Relaxed)))
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::engine::script::{Kind, ScriptWriter, Statement};

    /// A script of statements of schemas `a` and `b` and of none, each named by a letter.
    fn script() -> (String, Vec<(char, Statement)>) {
        let (a, b) = (Some("a"), Some("b"));
        let (t, u) = (Some(("a", "t")), Some(("b", "u")));
        let entries = [
            ('c', Kind::Create, None, a, "CREATE SCHEMA a;"),
            ('t', Kind::Create, t, None, "CREATE TABLE a.t (x int);"),
            ('o', Kind::Owner, None, a, "ALTER TABLE a.t OWNER TO app;"),
            ('g', Kind::Acl, t, None, "GRANT SELECT ON TABLE a.t TO r;"),
            ('u', Kind::Create, None, b, "CREATE TABLE b.u (y int);"),
            ('p', Kind::Owner, u, None, "ALTER TABLE b.u OWNER TO app;"),
            ('r', Kind::Acl, None, b, "REVOKE ALL ON TABLE b.u FROM PUBLIC;"),
            ('d', Kind::Acl, None, None, "ALTER DEFAULT PRIVILEGES GRANT SELECT ON TABLES TO r;"),
            ('e', Kind::Create, None, None, "CREATE EXTENSION IF NOT EXISTS pgcrypto;"),
        ];
        let mut w = ScriptWriter::default();
        for (_, kind, table, schema, sql) in entries {
            w.push_entry(kind, table, schema, sql);
        }
        let sql = w.finish(Section::PreData).sql;
        let parsed = script::parse(&sql);
        assert_eq!(parsed.len(), entries.len());
        (sql, entries.iter().map(|e| e.0).zip(parsed).collect())
    }

    #[test]
    fn script_filter_leaves_out_schemas_owners_and_privileges() {
        let (sql, statements) = script();
        let a = || Some(HashSet::from(["a".to_string()]));
        for (schemas, no_owner, no_privileges, kept) in [
            (None, false, false, "ctoguprde"),
            (None, true, false, "ctgurde"),
            (None, false, true, "ctoupe"),
            (None, true, true, "ctue"),
            (a(), false, false, "ctogde"),
            (a(), true, false, "ctgde"),
            (a(), false, true, "ctoe"),
            (a(), true, true, "cte"),
        ] {
            let filter = ScriptFilter { schemas, no_owner, no_privileges };
            let filtered = filter_script(sql.clone(), &filter);
            let expected: Vec<Statement> = statements
                .iter()
                .filter(|(name, _)| kept.contains(*name))
                .map(|(_, s)| s.clone())
                .collect();
            assert_eq!(expected.len(), kept.len(), "{filter:?}");
            // Tags and kinds survive, so apply() still finds each table's statements.
            assert_eq!(script::parse(&filtered), expected, "{filter:?}");
            if filter.keeps_everything() {
                assert_eq!(filtered, sql, "nothing left out: the script as it was");
            }
        }
    }

    #[test]
    fn unmarked_scripts_survive_the_filter() {
        let sql = "CREATE TABLE a (x int);\n\nGRANT SELECT ON a TO r;\n".to_string();
        let filter = ScriptFilter { no_owner: true, no_privileges: true, ..Default::default() };
        let parsed = script::parse(&filter_script(sql.clone(), &filter));
        assert_eq!(parsed, script::parse(&sql), "one untagged Create statement, kept whole");
        let only = ScriptFilter { schemas: Some(HashSet::new()), ..Default::default() };
        assert_eq!(script::parse(&filter_script(sql.clone(), &only)), script::parse(&sql));
    }
}
