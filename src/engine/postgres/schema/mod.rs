//! Schema DDL from the PostgreSQL catalogs, reproducing what pg_dump would create.
//!
//! Each collector (`types`, `relations`, `keys`, `views`, `routines`, `rules`) reads one family
//! of catalogs and turns every object of the selected schemas into an [`Object`]: its
//! statements, the catalog rows it stands for, its section and its sort priority. The server
//! writes every expression itself (`pg_get_*def`, `pg_get_expr`, `format_type`, `%I`), with
//! `search_path` empty so every name comes out schema-qualified: we only arrange the pieces.
//! `acl` then adds owners, comments and privileges to the objects they belong to, and `order`
//! sorts them: pg_dump's sections first, then a topological sort over `pg_depend` with pg_dump's
//! type priorities breaking ties. Whatever in the selected schemas no collector claimed is
//! reported as unsupported, never silently left out.

pub(super) mod acl;
mod keys;
mod order;
mod relations;
mod routines;
mod rules;
mod types;
mod views;

use std::collections::{BTreeSet, HashMap, HashSet};

use tokio_postgres::Client;
use tokio_postgres::types::Oid;

use super::{FORMAT_COPY_TEXT, db_err};
use crate::engine::script::{Kind, ScriptWriter};
use crate::engine::{SchemaScript, TableSpec};
use crate::error::{Error, Result};
use crate::manifest::{Extension, Section};
use crate::plan::TablePattern;

/// A catalog row: (the catalog's own OID, as in `pg_depend.classid`; the row's OID).
pub(super) type Ref = (Oid, Oid);

/// Where an object's statements run in a restore (pg_dump's sections and passes, in order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) enum Phase {
    /// Before the data: types, functions, tables, views.
    Pre,
    /// After the data: keys, indexes, triggers, rules, policies.
    Post,
    /// After everything else: materialized view refreshes and event triggers.
    Last,
}

/// pg_dump's type priorities (`pg_dump_sort.c`): the order among objects no dependency orders.
pub(super) mod priority {
    pub const SCHEMA: u8 = 1;
    pub const COLLATION: u8 = 3;
    pub const EXTENSION: u8 = 5;
    pub const TYPE: u8 = 6;
    pub const CAST: u8 = 7;
    pub const FUNCTION: u8 = 8;
    pub const AGGREGATE: u8 = 9;
    pub const OPERATOR: u8 = 11;
    pub const TABLE: u8 = 20;
    pub const TABLE_ATTACH: u8 = 21;
    pub const ATTRDEF: u8 = 23;
    pub const CONSTRAINT: u8 = 30;
    pub const INDEX: u8 = 31;
    pub const INDEX_ATTACH: u8 = 32;
    pub const STATISTICS: u8 = 33;
    pub const RULE: u8 = 34;
    pub const TRIGGER: u8 = 35;
    pub const FK_CONSTRAINT: u8 = 36;
    pub const POLICY: u8 = 37;
    pub const PUBLICATION: u8 = 38;
    pub const PUBLICATION_REL: u8 = 39;
    pub const EVENT_TRIGGER: u8 = 50;
    pub const REFRESH_MATVIEW: u8 = 51;
}

/// How `ALTER ... OWNER TO`, `COMMENT ON` and `GRANT ... ON` name an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Target {
    /// `TABLE`, `VIEW`, `FUNCTION`, `CONSTRAINT`, ...: the keyword of COMMENT ON and ALTER.
    pub keyword: String,
    /// The object's name as those statements want it (`public.t`, `public.f(integer)`,
    /// `c ON public.t`).
    pub identity: String,
    /// The name `GRANT` wants, where it differs (an aggregate's argument types without
    /// `ORDER BY` or `*`).
    pub grant_identity: Option<String>,
}

/// One dumpable object and the statements that create it.
#[derive(Debug, Clone)]
pub(super) struct Object {
    /// The catalog rows this object stands for: its own first, then the rows it brings with it
    /// (a table's row type and inline checks, a view's rewrite rule, a constraint's index).
    pub refs: Vec<Ref>,
    pub phase: Phase,
    pub priority: u8,
    /// Schema of the object, if it lives in one: a restore of some schemas runs only theirs.
    pub schema: Option<String>,
    /// Name used to break ties, as pg_dump sorts by name.
    pub name: String,
    /// Post-data statements that concern only this data table (keys, indexes): a restore runs
    /// them as soon as the table is loaded.
    pub table: Option<(String, String)>,
    pub statements: Vec<String>,
    /// Owner and privilege statements hang off this.
    pub target: Option<Target>,
    pub owner: Option<String>,
    /// Roles the statements name besides the owner (a policy's `TO`).
    pub roles: Vec<String>,
    /// A view's stand-in (`SELECT NULL::type AS column, ...`), created when the view is part of
    /// a dependency cycle; its statements then run as `CREATE OR REPLACE`.
    pub placeholder: Option<String>,
    /// Dependencies pg_depend does not record (an ATTACH on its two tables).
    pub deps: Vec<Ref>,
    /// `ALTER ... OWNER TO`, comments and privileges, filled in by `acl`.
    pub owner_sql: Option<String>,
    pub comments: Vec<String>,
    pub grants: Vec<String>,
}

impl Object {
    pub fn new(
        reference: Ref,
        phase: Phase,
        priority: u8,
        schema: Option<&str>,
        name: &str,
    ) -> Self {
        Object {
            refs: vec![reference],
            phase,
            priority,
            schema: schema.map(str::to_string),
            name: name.to_string(),
            table: None,
            statements: Vec::new(),
            target: None,
            owner: None,
            roles: Vec::new(),
            placeholder: None,
            deps: Vec::new(),
            owner_sql: None,
            comments: Vec::new(),
            grants: Vec::new(),
        }
    }

    /// An object no catalog row stands for (an ATTACH, a refresh): only ordered by `deps`.
    pub fn unnamed(phase: Phase, priority: u8, schema: Option<&str>, name: &str) -> Self {
        let mut object = Object::new((0, 0), phase, priority, schema, name);
        object.refs.clear();
        object
    }

    pub fn sql(mut self, statement: impl Into<String>) -> Self {
        self.statements.push(statement.into());
        self
    }

    pub fn target(mut self, keyword: &str, identity: impl Into<String>) -> Self {
        self.target = Some(Target {
            keyword: keyword.to_string(),
            identity: identity.into(),
            grant_identity: None,
        });
        self
    }

    pub fn owned_by(mut self, owner: Option<String>) -> Self {
        self.owner = owner;
        self
    }
}

/// A table whose rows are backed up.
pub(super) struct CatalogTable {
    pub oid: Oid,
    pub spec: TableSpec,
}

/// What the collectors share: the selection and the tables found.
pub(super) struct Scope<'a> {
    pub client: &'a Client,
    pub schemas: &'a [String],
    /// No `--schema` given: database-level objects (event triggers, publications, global
    /// default privileges) are included.
    pub whole_database: bool,
    /// Every table (`r`, `p`) whose DDL is dumped, by OID: (schema, name, relkind).
    pub tables: HashMap<Oid, (String, String, char)>,
    /// Tables whose rows are dumped.
    pub data_tables: HashSet<Oid>,
}

impl Scope<'_> {
    pub fn table(&self, oid: Oid) -> Option<(&str, &str)> {
        self.tables.get(&oid).map(|(s, n, _)| (s.as_str(), n.as_str()))
    }

    /// The tag of a post-data statement that concerns only table `oid`: set for data tables.
    pub fn data_tag(&self, oid: Oid) -> Option<(String, String)> {
        if !self.data_tables.contains(&oid) {
            return None;
        }
        self.table(oid).map(|(s, n)| (s.to_string(), n.to_string()))
    }
}

/// Everything the catalogs yielded.
pub(super) struct Catalog {
    pub tables: Vec<CatalogTable>,
    scope_tables: HashMap<Oid, (String, String, char)>,
    excluded: HashSet<Oid>,
    whole_database: bool,
}

pub(super) struct Generated {
    pub scripts: Vec<SchemaScript>,
    pub extensions: Vec<Extension>,
    pub roles: acl::Roles,
    pub sequences: Vec<(String, String)>,
    pub unsupported: Vec<String>,
    /// Objects deliberately left out because of the selection (e.g. a foreign key to an
    /// excluded table), described.
    pub skipped: Vec<String>,
}

/// What collectors return besides objects.
#[derive(Default)]
pub(super) struct Found {
    pub objects: Vec<Object>,
    pub skipped: Vec<String>,
    /// Catalog rows deliberately not dumped (identity sequences of excluded tables, clones):
    /// not unsupported.
    pub ignored: Vec<Ref>,
}

impl Found {
    pub fn extend(&mut self, other: Found) {
        self.objects.extend(other.objects);
        self.skipped.extend(other.skipped);
        self.ignored.extend(other.ignored);
    }
}

/// `NOT EXISTS` clause excluding members of extensions (they come with `CREATE EXTENSION`).
pub(super) fn not_member(catalog: &str, oid: &str) -> String {
    format!(
        "NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.classid = '{catalog}'::regclass \
         AND d.objid = {oid} AND d.deptype = 'e')"
    )
}

/// The selected schemas, checked to exist; all non-system schemas when none were named.
pub(super) async fn resolve_schemas(client: &Client, wanted: &[String]) -> Result<Vec<String>> {
    let rows = client
        .query(
            &format!(
                "SELECT n.nspname FROM pg_catalog.pg_namespace n WHERE n.nspname !~ '^pg_' \
                 AND n.nspname <> 'information_schema' AND {} ORDER BY 1",
                not_member("pg_namespace", "n.oid")
            ),
            &[],
        )
        .await
        .map_err(db_err("listing schemas"))?;
    let present: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
    if wanted.is_empty() {
        return Ok(present);
    }
    let unknown: Vec<&String> = wanted.iter().filter(|s| !present.contains(s)).collect();
    if !unknown.is_empty() {
        let list: Vec<String> = unknown.iter().map(|s| format!("'{s}'")).collect();
        return Err(Error::invalid(
            "schema",
            format!("{} not found in the source database", list.join(", ")),
        ));
    }
    Ok(wanted.to_vec())
}

/// Tables (plain, partitioned, partitions, inheritance children, typed) of the selected schemas
/// minus exclusions; those with storage are the data tables, with their dumpable columns.
pub(super) async fn read_tables(
    client: &Client,
    schemas: &[String],
    exclude: &[TablePattern],
    whole_database: bool,
) -> Result<Catalog> {
    let sql = format!(
        "SELECT c.oid, n.nspname, c.relname, c.relkind::text, pg_catalog.pg_relation_size(c.oid), \
                coalesce((SELECT array_agg(a.attname ORDER BY a.attnum) FROM pg_catalog.pg_attribute a \
                  WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''), '{{}}'), \
                (SELECT ARRAY[rn.nspname::text, r.relname::text] FROM pg_catalog.pg_class r \
                   JOIN pg_catalog.pg_namespace rn ON rn.oid = r.relnamespace \
                  WHERE c.relispartition AND r.oid = pg_catalog.pg_partition_root(c.oid) \
                    AND EXISTS (SELECT 1 FROM pg_catalog.pg_partition_ancestors(c.oid) anc \
                      JOIN pg_catalog.pg_partitioned_table pt ON pt.partrelid = anc.relid \
                      JOIN pg_catalog.pg_attribute ka ON ka.attrelid = pt.partrelid \
                       AND ka.attnum = ANY(pt.partattrs::pg_catalog.int2[]) \
                      JOIN pg_catalog.pg_type kt ON kt.oid = ka.atttypid \
                     WHERE pt.partstrat = 'h' AND kt.typtype = 'e')) \
         FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.relkind IN ('r', 'p') AND n.nspname = ANY($1) AND {} \
         ORDER BY n.nspname, c.relname",
        not_member("pg_class", "c.oid")
    );
    let rows = client.query(&sql, &[&schemas]).await.map_err(db_err("listing tables"))?;
    let mut catalog = Catalog {
        tables: Vec::new(),
        scope_tables: HashMap::new(),
        excluded: HashSet::new(),
        whole_database,
    };
    for row in rows {
        let oid: Oid = row.get(0);
        let schema: String = row.get(1);
        let name: String = row.get(2);
        let kind: String = row.get(3);
        if exclude.iter().any(|p| p.matches(&schema, &name)) {
            catalog.excluded.insert(oid);
            continue;
        }
        let kind = if kind == "p" { 'p' } else { 'r' };
        catalog.scope_tables.insert(oid, (schema.clone(), name.clone(), kind));
        if kind == 'p' {
            continue;
        }
        let size: i64 = row.get(4);
        catalog.tables.push(CatalogTable {
            oid,
            spec: TableSpec {
                schema,
                name,
                columns: row.get(5),
                format: FORMAT_COPY_TEXT.into(),
                encodings: Vec::new(),
                column_types: Vec::new(),
                estimated_bytes: size.max(0) as u64,
                filter: None,
                load_via: row
                    .get::<_, Option<Vec<String>>>(6)
                    .and_then(|root| Some((root.first()?.clone(), root.get(1)?.clone()))),
                ranges: Vec::new(),
            },
        });
    }
    catalog.tables.extend(extension_config_tables(client, schemas).await?);
    Ok(catalog)
}

/// Configuration tables of the extensions in the selected schemas
/// (`pg_extension_config_dump`): the rows their condition selects are user data, as pg_dump
/// dumps them; the tables themselves come with `CREATE EXTENSION`.
async fn extension_config_tables(client: &Client, schemas: &[String]) -> Result<Vec<CatalogTable>> {
    let rows = client
        .query(
            "SELECT c.oid, n.nspname, c.relname, pg_catalog.pg_relation_size(c.oid), \
                    coalesce((SELECT pg_catalog.array_agg(a.attname ORDER BY a.attnum) FROM pg_catalog.pg_attribute a \
                      WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''), '{}'), \
                    nullif(x.condition, '') \
               FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace en ON en.oid = e.extnamespace, \
                    ROWS FROM (pg_catalog.unnest(e.extconfig), pg_catalog.unnest(e.extcondition)) AS x(config, condition) \
               JOIN pg_catalog.pg_class c ON c.oid = x.config JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
              WHERE en.nspname = ANY($1) AND c.relkind = 'r' ORDER BY n.nspname, c.relname",
            &[&schemas],
        )
        .await
        .map_err(db_err("listing extension configuration tables"))?;
    Ok(rows
        .iter()
        .map(|row| CatalogTable {
            oid: row.get(0),
            spec: TableSpec {
                schema: row.get(1),
                name: row.get(2),
                columns: row.get(4),
                format: FORMAT_COPY_TEXT.into(),
                encodings: Vec::new(),
                column_types: Vec::new(),
                estimated_bytes: row.get::<_, i64>(3).max(0) as u64,
                filter: row.get(5),
                load_via: None,
                ranges: Vec::new(),
            },
        })
        .collect())
}

pub(super) async fn generate(
    client: &Client,
    schemas: &[String],
    catalog: &Catalog,
) -> Result<Generated> {
    let scope = Scope {
        client,
        schemas,
        whole_database: catalog.whole_database,
        tables: catalog.scope_tables.clone(),
        data_tables: catalog.tables.iter().map(|t| t.oid).collect(),
    };
    let mut found = Found::default();
    let (extensions, extension_objects) = types::extensions(&scope).await?;
    found.extend(extension_objects);
    found.extend(types::schemas(&scope).await?);
    found.extend(types::collations(&scope).await?);
    found.extend(types::types(&scope).await?);
    found.extend(routines::functions(&scope).await?);
    found.extend(routines::aggregates(&scope).await?);
    found.extend(routines::operators(&scope).await?);
    found.extend(routines::casts(&scope).await?);
    let (sequences, sequence_objects) = relations::sequences(&scope).await?;
    found.extend(sequence_objects);
    found.extend(relations::tables(&scope).await?);
    found.extend(views::views(&scope).await?);
    found.extend(keys::constraints(&scope).await?);
    found.extend(keys::indexes(&scope).await?);
    found.extend(rules::triggers(&scope).await?);
    found.extend(rules::rules(&scope).await?);
    found.extend(rules::policies(&scope).await?);
    found.extend(rules::statistics(&scope).await?);
    if scope.whole_database {
        found.extend(rules::event_triggers(&scope).await?);
        found.extend(rules::publications(&scope).await?);
    }
    let Found { mut objects, skipped, ignored } = found;

    let mut claimed: HashSet<Ref> = objects.iter().flat_map(|o| o.refs.iter().copied()).collect();
    claimed.extend(ignored);
    let pg_class = order::pg_class_oid(client).await?;
    claimed.extend(catalog.excluded.iter().map(|&oid| (pg_class, oid)));
    let mut unsupported = find_unsupported(client, schemas, &claimed).await?;
    if scope.whole_database {
        unsupported.extend(find_unsupported_in_database(client).await?);
    }

    let extra = acl::decorate(&scope, &mut objects).await?;
    let mut edges = order::dependencies(client, &objects).await?;
    let order::Sorted { order: sorted, problems } = order::sort(&mut objects, &mut edges);
    // A backup whose schema cannot be replayed in order is not a backup: these fail it unless
    // --skip-unsupported (then the restore may fail where the cycle was broken).
    unsupported
        .extend(problems.into_iter().map(|p| format!("{p} (cannot be ordered for restore)")));

    let mut pre = ScriptWriter::default();
    let mut post = ScriptWriter::default();
    let mut grants = Vec::new();
    let mut last = Vec::new();
    for &(i, step) in &sorted {
        let object = &objects[i];
        let schema = object.schema.as_deref();
        let script = match object.phase {
            Phase::Pre => &mut pre,
            Phase::Post => &mut post,
            Phase::Last => {
                last.push(i);
                continue;
            }
        };
        let table = object.table.as_ref().map(|(s, n)| (s.as_str(), n.as_str()));
        match (step, &object.placeholder) {
            (order::Step::Placeholder, Some(placeholder)) => {
                script.push_entry(Kind::Create, table, schema, placeholder);
                continue;
            }
            (order::Step::Replace, _) => {
                for statement in &object.statements {
                    let replace = statement.replacen("CREATE VIEW", "CREATE OR REPLACE VIEW", 1);
                    script.push_entry(Kind::Create, table, schema, &replace);
                }
            }
            _ => {
                for statement in &object.statements {
                    script.push_entry(Kind::Create, table, schema, statement);
                }
            }
        }
        push_owner_and_comments(script, object, table, schema);
        grants.push(i);
    }
    // pg_restore's passes: ACLs after the main pass, then event triggers and matview refreshes.
    for &i in &grants {
        let object = &objects[i];
        for grant in &object.grants {
            post.push_entry(Kind::Acl, None, object.schema.as_deref(), grant);
        }
    }
    for (schema, statement) in &extra.default_privileges {
        post.push_entry(Kind::Acl, None, schema.as_deref(), statement);
    }
    for &i in &last {
        let object = &objects[i];
        let schema = object.schema.as_deref();
        for statement in &object.statements {
            post.push_entry(Kind::Create, None, schema, statement);
        }
        push_owner_and_comments(&mut post, object, None, schema);
        for grant in &object.grants {
            post.push_entry(Kind::Acl, None, schema, grant);
        }
    }
    Ok(Generated {
        scripts: vec![pre.finish(Section::PreData), post.finish(Section::PostData)],
        extensions,
        roles: extra.roles,
        sequences,
        unsupported,
        skipped,
    })
}

/// An object's `ALTER ... OWNER TO` and comments, after its own statements.
fn push_owner_and_comments(
    script: &mut ScriptWriter,
    object: &Object,
    table: Option<(&str, &str)>,
    schema: Option<&str>,
) {
    if let Some(owner) = &object.owner_sql {
        script.push_entry(Kind::Owner, table, schema, owner);
    }
    for comment in &object.comments {
        script.push_entry(Kind::Create, table, schema, comment);
    }
}

/// Objects of the database itself (not of a schema) that pg_dump would dump in a whole-database
/// dump and no collector reproduces; large objects and security labels are counted.
async fn find_unsupported_in_database(client: &Client) -> Result<Vec<String>> {
    let sql = "SELECT pg_catalog.pg_describe_object(x.cat, x.oid, 0) FROM ( \
           SELECT 'pg_catalog.pg_foreign_data_wrapper'::pg_catalog.regclass::oid AS cat, oid \
             FROM pg_catalog.pg_foreign_data_wrapper \
           UNION ALL SELECT 'pg_catalog.pg_foreign_server'::pg_catalog.regclass::oid, oid FROM pg_catalog.pg_foreign_server \
           UNION ALL SELECT 'pg_catalog.pg_language'::pg_catalog.regclass::oid, oid FROM pg_catalog.pg_language \
             WHERE lanispl AND oid >= 16384 \
           UNION ALL SELECT 'pg_catalog.pg_am'::pg_catalog.regclass::oid, oid FROM pg_catalog.pg_am WHERE oid >= 16384 \
           UNION ALL SELECT 'pg_catalog.pg_transform'::pg_catalog.regclass::oid, oid FROM pg_catalog.pg_transform \
           UNION ALL SELECT 'pg_catalog.pg_subscription'::pg_catalog.regclass::oid, oid FROM pg_catalog.pg_subscription \
             WHERE subdbid = (SELECT d.oid FROM pg_catalog.pg_database d WHERE d.datname = pg_catalog.current_database()) \
         ) x WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d \
                WHERE d.classid = x.cat AND d.objid = x.oid AND d.deptype = 'e') \
         UNION ALL SELECT pg_catalog.count(*) || ' large object(s)' FROM pg_catalog.pg_largeobject_metadata \
           HAVING pg_catalog.count(*) > 0 \
         UNION ALL SELECT pg_catalog.count(*) || ' security label(s)' FROM pg_catalog.pg_seclabel \
           HAVING pg_catalog.count(*) > 0 \
         ORDER BY 1";
    let rows = client
        .query(sql, &[])
        .await
        .map_err(db_err("checking for unsupported database objects"))?;
    Ok(rows.iter().map(|r| r.get::<_, String>(0)).collect())
}

/// Every object in the selected schemas that no collector claimed, described by the server
/// (`pg_describe_object`). Extension members are excluded: the extension brings them.
async fn find_unsupported(
    client: &Client,
    schemas: &[String],
    claimed: &HashSet<Ref>,
) -> Result<Vec<String>> {
    let sql = "SELECT x.cat, x.oid, pg_catalog.pg_describe_object(x.cat, x.oid, 0) FROM ( \
           SELECT 'pg_class'::regclass::oid AS cat, oid, relnamespace AS ns FROM pg_catalog.pg_class \
             WHERE relkind NOT IN ('i', 'I', 't') \
           UNION ALL SELECT 'pg_type'::regclass::oid, oid, typnamespace FROM pg_catalog.pg_type \
             WHERE typtype <> 'm' AND typrelid = 0 AND NOT (typcategory = 'A' AND typelem <> 0) \
           UNION ALL SELECT 'pg_proc'::regclass::oid, oid, pronamespace FROM pg_catalog.pg_proc \
           UNION ALL SELECT 'pg_collation'::regclass::oid, oid, collnamespace FROM pg_catalog.pg_collation \
           UNION ALL SELECT 'pg_operator'::regclass::oid, oid, oprnamespace FROM pg_catalog.pg_operator \
           UNION ALL SELECT 'pg_opclass'::regclass::oid, oid, opcnamespace FROM pg_catalog.pg_opclass \
           UNION ALL SELECT 'pg_opfamily'::regclass::oid, oid, opfnamespace FROM pg_catalog.pg_opfamily \
           UNION ALL SELECT 'pg_conversion'::regclass::oid, oid, connamespace FROM pg_catalog.pg_conversion \
           UNION ALL SELECT 'pg_statistic_ext'::regclass::oid, oid, stxnamespace FROM pg_catalog.pg_statistic_ext \
           UNION ALL SELECT 'pg_ts_config'::regclass::oid, oid, cfgnamespace FROM pg_catalog.pg_ts_config \
           UNION ALL SELECT 'pg_ts_dict'::regclass::oid, oid, dictnamespace FROM pg_catalog.pg_ts_dict \
           UNION ALL SELECT 'pg_ts_parser'::regclass::oid, oid, prsnamespace FROM pg_catalog.pg_ts_parser \
           UNION ALL SELECT 'pg_ts_template'::regclass::oid, oid, tmplnamespace FROM pg_catalog.pg_ts_template \
         ) x JOIN pg_catalog.pg_namespace n ON n.oid = x.ns \
          WHERE n.nspname = ANY($1) AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d \
                WHERE d.classid = x.cat AND d.objid = x.oid AND d.deptype IN ('e', 'i')) \
         ORDER BY 3";
    let rows =
        client.query(sql, &[&schemas]).await.map_err(db_err("checking for unsupported objects"))?;
    let described: BTreeSet<String> = rows
        .iter()
        .filter(|r| !claimed.contains(&(r.get::<_, Oid>(0), r.get::<_, Oid>(1))))
        .map(|r| r.get::<_, String>(2))
        .collect();
    Ok(described.into_iter().collect())
}
