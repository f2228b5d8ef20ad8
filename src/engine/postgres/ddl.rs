//! Schema DDL from the PostgreSQL catalogs, split into pg_dump's pre-data and post-data sections.
//!
//! The server writes every expression itself (`format_type`, `pg_get_expr`,
//! `pg_get_constraintdef`, `pg_get_indexdef`, `format('%I')`), with `search_path` empty so every
//! name comes out schema-qualified: we only arrange the pieces. Covered here: schemas,
//! extensions, enum types, sequences (with OWNED BY), tables (unlogged, columns, types,
//! collations, defaults, NOT NULL, identity, generated columns, check constraints, reloptions),
//! comments on schemas, types, tables and columns; post-data: primary keys, unique and exclusion
//! constraints, indexes, CLUSTER ON, foreign keys, NOT VALID checks. Anything else found in the
//! selected schemas is reported by [`generate`] as unsupported, never silently left out.

use std::collections::HashMap;

use tokio_postgres::Client;
use tokio_postgres::types::Oid;

use super::{FORMAT_COPY_TEXT, db_err};
use crate::engine::script::ScriptWriter;
use crate::engine::{SchemaScript, TableSpec};
use crate::error::{Error, Result};
use crate::manifest::{Extension, Section};
use crate::plan::TablePattern;

/// `NOT EXISTS` clause excluding members of extensions (they come with `CREATE EXTENSION`).
const NOT_EXTENSION_MEMBER: &str = "NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d \
     WHERE d.classid = '{cat}'::regclass AND d.objid = {oid} AND d.deptype = 'e')";

fn not_member(catalog: &str, oid: &str) -> String {
    NOT_EXTENSION_MEMBER.replace("{cat}", catalog).replace("{oid}", oid)
}

pub(super) struct CatalogTable {
    pub oid: Oid,
    pub spec: TableSpec,
    pub unlogged: bool,
    pub reloptions: Option<String>,
}

pub(super) struct Catalog {
    pub tables: Vec<CatalogTable>,
}

pub(super) struct Generated {
    pub scripts: Vec<SchemaScript>,
    pub extensions: Vec<Extension>,
    pub sequences: Vec<(String, String)>,
    pub unsupported: Vec<String>,
    /// Objects deliberately left out because of the selection (e.g. a foreign key to an
    /// excluded table), described.
    pub skipped: Vec<String>,
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

/// Ordinary tables of the selected schemas (minus exclusions), with their dumpable columns.
pub(super) async fn read_tables(
    client: &Client,
    schemas: &[String],
    exclude: &[TablePattern],
) -> Result<Catalog> {
    let sql = format!(
        "SELECT c.oid, n.nspname, c.relname, c.relpersistence = 'u', \
                array_to_string(c.reloptions, ', '), pg_catalog.pg_relation_size(c.oid), \
                coalesce((SELECT array_agg(a.attname ORDER BY a.attnum) FROM pg_catalog.pg_attribute a \
                  WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''), '{{}}') \
         FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.relkind = 'r' AND NOT c.relispartition AND c.reloftype = 0 \
           AND n.nspname = ANY($1) AND {} \
           AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_inherits i WHERE i.inhrelid = c.oid) \
         ORDER BY n.nspname, c.relname",
        not_member("pg_class", "c.oid")
    );
    let rows = client.query(&sql, &[&schemas]).await.map_err(db_err("listing tables"))?;
    let mut tables = Vec::new();
    for row in rows {
        let schema: String = row.get(1);
        let name: String = row.get(2);
        if exclude.iter().any(|p| p.matches(&schema, &name)) {
            continue;
        }
        let size: i64 = row.get(5);
        tables.push(CatalogTable {
            oid: row.get(0),
            unlogged: row.get(3),
            reloptions: row.get::<_, Option<String>>(4).filter(|s| !s.is_empty()),
            spec: TableSpec {
                schema,
                name,
                columns: row.get(6),
                format: FORMAT_COPY_TEXT.into(),
                encodings: Vec::new(),
                column_types: Vec::new(),
                estimated_bytes: size.max(0) as u64,
            },
        });
    }
    Ok(Catalog { tables })
}

pub(super) async fn generate(
    client: &Client,
    schemas: &[String],
    catalog: &Catalog,
) -> Result<Generated> {
    let mut pre = ScriptWriter::default();
    let mut post = ScriptWriter::default();
    let mut skipped = Vec::new();
    let oids: Vec<Oid> = catalog.tables.iter().map(|t| t.oid).collect();

    // Schemas (IF NOT EXISTS: `public` usually exists already in the target).
    for row in client
        .query(
            "SELECT format('CREATE SCHEMA IF NOT EXISTS %I;', nspname), \
             (SELECT format('COMMENT ON SCHEMA %I IS %L;', n.nspname, d.description) FROM pg_catalog.pg_description d \
               WHERE d.classoid = 'pg_namespace'::regclass AND d.objoid = n.oid AND d.objsubid = 0), \
             nspname \
             FROM pg_catalog.pg_namespace n WHERE nspname = ANY($1) ORDER BY nspname",
            &[&schemas],
        )
        .await
        .map_err(db_err("reading schemas"))?
    {
        let schema: &str = row.get(2);
        pre.push_for(schema, row.get(0));
        if let Some(comment) = row.get::<_, Option<String>>(1)
            && !comment.contains("'standard public schema'")
        {
            pre.push_for(schema, &comment);
        }
    }

    // Extensions installed in the selected schemas.
    let mut extensions = Vec::new();
    for row in client
        .query(
            "SELECT e.extname, e.extversion, format('CREATE EXTENSION IF NOT EXISTS %I WITH SCHEMA %I VERSION %L;', \
             e.extname, n.nspname, e.extversion), n.nspname FROM pg_catalog.pg_extension e \
             JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace \
             WHERE n.nspname = ANY($1) AND e.extname <> 'plpgsql' ORDER BY e.extname",
            &[&schemas],
        )
        .await
        .map_err(db_err("reading extensions"))?
    {
        extensions.push(Extension { name: row.get(0), version: row.get(1) });
        pre.push_for(row.get(3), row.get(2));
    }

    // Enum types.
    let sql = format!(
        "SELECT format('CREATE TYPE %I.%I AS ENUM (%s);', n.nspname, t.typname, \
           coalesce((SELECT string_agg(quote_literal(e.enumlabel), ', ' ORDER BY e.enumsortorder) \
                     FROM pg_catalog.pg_enum e WHERE e.enumtypid = t.oid), '')), \
         (SELECT format('COMMENT ON TYPE %I.%I IS %L;', n.nspname, t.typname, d.description) FROM pg_catalog.pg_description d \
           WHERE d.classoid = 'pg_type'::regclass AND d.objoid = t.oid AND d.objsubid = 0), \
         n.nspname \
         FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace \
         WHERE t.typtype = 'e' AND n.nspname = ANY($1) AND {} ORDER BY n.nspname, t.typname",
        not_member("pg_type", "t.oid")
    );
    for row in client.query(&sql, &[&schemas]).await.map_err(db_err("reading enum types"))? {
        let schema: &str = row.get(2);
        pre.push_for(schema, row.get(0));
        if let Some(comment) = row.get::<_, Option<String>>(1) {
            pre.push_for(schema, &comment);
        }
    }

    // Sequences that are not identity sequences (those come with their column).
    let table_names: HashMap<Oid, (&str, &str)> = catalog
        .tables
        .iter()
        .map(|t| (t.oid, (t.spec.schema.as_str(), t.spec.name.as_str())))
        .collect();
    let sql = format!(
        "SELECT n.nspname, c.relname, \
           format('CREATE SEQUENCE %I.%I AS %s START WITH %s INCREMENT BY %s MINVALUE %s MAXVALUE %s CACHE %s%s;', \
             n.nspname, c.relname, pg_catalog.format_type(s.seqtypid, NULL), s.seqstart, s.seqincrement, \
             s.seqmin, s.seqmax, s.seqcache, CASE WHEN s.seqcycle THEN ' CYCLE' ELSE '' END), \
           owner.refobjid, \
           (SELECT format('ALTER SEQUENCE %I.%I OWNED BY %I.%I.%I;', n.nspname, c.relname, tn.nspname, tc.relname, a.attname) \
              FROM pg_catalog.pg_class tc JOIN pg_catalog.pg_namespace tn ON tn.oid = tc.relnamespace \
              JOIN pg_catalog.pg_attribute a ON a.attrelid = tc.oid AND a.attnum = owner.refobjsubid \
             WHERE tc.oid = owner.refobjid), \
           ident.refobjid \
         FROM pg_catalog.pg_sequence s JOIN pg_catalog.pg_class c ON c.oid = s.seqrelid \
         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         LEFT JOIN pg_catalog.pg_depend owner ON owner.classid = 'pg_class'::regclass AND owner.objid = c.oid \
              AND owner.refclassid = 'pg_class'::regclass AND owner.deptype = 'a' \
         LEFT JOIN pg_catalog.pg_depend ident ON ident.classid = 'pg_class'::regclass AND ident.objid = c.oid \
              AND ident.refclassid = 'pg_class'::regclass AND ident.deptype = 'i' \
         WHERE n.nspname = ANY($1) AND {} ORDER BY n.nspname, c.relname",
        not_member("pg_class", "c.oid")
    );
    let mut sequences = Vec::new();
    let mut owned_by = Vec::new();
    for row in client.query(&sql, &[&schemas]).await.map_err(db_err("reading sequences"))? {
        let (schema, name): (String, String) = (row.get(0), row.get(1));
        let owner: Option<Oid> = row.get(3);
        let identity_of: Option<Oid> = row.get(5);
        if let Some(table) = identity_of {
            // Identity sequences exist only with their table; skip those of excluded tables.
            if table_names.contains_key(&table) {
                sequences.push((schema, name));
            }
            continue;
        }
        pre.push_for(&schema, row.get(2));
        if let (Some(owner), Some(stmt)) = (owner, row.get::<_, Option<String>>(4))
            && table_names.contains_key(&owner)
        {
            owned_by.push((schema.clone(), stmt));
        }
        sequences.push((schema, name));
    }

    // Tables, with their columns and inline check constraints.
    let columns = client
        .query(
            "SELECT a.attrelid, \
               format('%I %s', a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod)) \
               || CASE WHEN a.attcollation <> t.typcollation AND a.attcollation <> 0 \
                       THEN format(' COLLATE %I.%I', cn.nspname, co.collname) ELSE '' END \
               || CASE WHEN a.attgenerated = 's' THEN format(' GENERATED ALWAYS AS (%s) STORED', \
                          pg_catalog.pg_get_expr(ad.adbin, ad.adrelid)) \
                       WHEN ad.adbin IS NOT NULL THEN ' DEFAULT ' || pg_catalog.pg_get_expr(ad.adbin, ad.adrelid) \
                       ELSE '' END \
               || CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END \
               || CASE a.attidentity WHEN 'a' THEN ' GENERATED ALWAYS AS IDENTITY' \
                                      WHEN 'd' THEN ' GENERATED BY DEFAULT AS IDENTITY' ELSE '' END \
               || coalesce(( \
                   SELECT format(' (SEQUENCE NAME %I.%I START WITH %s INCREMENT BY %s MINVALUE %s MAXVALUE %s CACHE %s%s)', \
                          sn.nspname, sc.relname, s.seqstart, s.seqincrement, s.seqmin, s.seqmax, s.seqcache, \
                          CASE WHEN s.seqcycle THEN ' CYCLE' ELSE '' END) \
                     FROM pg_catalog.pg_depend d JOIN pg_catalog.pg_class sc ON sc.oid = d.objid \
                     JOIN pg_catalog.pg_namespace sn ON sn.oid = sc.relnamespace \
                     JOIN pg_catalog.pg_sequence s ON s.seqrelid = sc.oid \
                    WHERE a.attidentity <> '' AND d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass \
                      AND d.refobjid = a.attrelid AND d.refobjsubid = a.attnum AND d.deptype = 'i'), ''), \
               (SELECT format('COMMENT ON COLUMN %I.%I.%I IS %L;', n.nspname, c.relname, a.attname, d.description) \
                  FROM pg_catalog.pg_description d WHERE d.classoid = 'pg_class'::regclass \
                   AND d.objoid = a.attrelid AND d.objsubid = a.attnum) \
             FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_type t ON t.oid = a.atttypid \
             JOIN pg_catalog.pg_class c ON c.oid = a.attrelid JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             LEFT JOIN pg_catalog.pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum \
             LEFT JOIN pg_catalog.pg_collation co ON co.oid = a.attcollation \
             LEFT JOIN pg_catalog.pg_namespace cn ON cn.oid = co.collnamespace \
             WHERE a.attrelid = ANY($1) AND a.attnum > 0 AND NOT a.attisdropped \
             ORDER BY a.attrelid, a.attnum",
            &[&oids],
        )
        .await
        .map_err(db_err("reading columns"))?;
    let mut column_defs: HashMap<Oid, Vec<String>> = HashMap::new();
    let mut column_comments: HashMap<Oid, Vec<String>> = HashMap::new();
    for row in &columns {
        let oid: Oid = row.get(0);
        column_defs.entry(oid).or_default().push(row.get(1));
        if let Some(c) = row.get::<_, Option<String>>(2) {
            column_comments.entry(oid).or_default().push(c);
        }
    }

    let constraints = client
        .query(
            "SELECT c.conrelid, c.contype::text, c.convalidated, \
               format('CONSTRAINT %I %s', c.conname, pg_catalog.pg_get_constraintdef(c.oid)), \
               format('ALTER TABLE ONLY %I.%I ADD CONSTRAINT %I %s;', n.nspname, r.relname, c.conname, \
                      pg_catalog.pg_get_constraintdef(c.oid)), \
               c.confrelid, c.conname \
             FROM pg_catalog.pg_constraint c JOIN pg_catalog.pg_class r ON r.oid = c.conrelid \
             JOIN pg_catalog.pg_namespace n ON n.oid = r.relnamespace \
             WHERE c.conrelid = ANY($1) AND c.contype IN ('c','p','u','x','f') \
             ORDER BY CASE c.contype WHEN 'p' THEN 0 WHEN 'u' THEN 1 WHEN 'x' THEN 2 WHEN 'c' THEN 3 ELSE 4 END, \
                      n.nspname, r.relname, c.conname",
            &[&oids],
        )
        .await
        .map_err(db_err("reading constraints"))?;
    let mut inline_checks: HashMap<Oid, Vec<String>> = HashMap::new();
    let mut keys = Vec::new();
    let mut late_checks = Vec::new();
    let mut foreign = Vec::new();
    for row in &constraints {
        let table: Oid = row.get(0);
        let kind: String = row.get(1);
        let validated: bool = row.get(2);
        match kind.as_str() {
            "c" if validated => inline_checks.entry(table).or_default().push(row.get(3)),
            "c" => late_checks.push((table, row.get::<_, String>(4))),
            "f" => {
                let referenced: Oid = row.get(5);
                if table_names.contains_key(&referenced) {
                    foreign.push((table, row.get::<_, String>(4)));
                } else {
                    let (schema, name) = table_names.get(&table).copied().unwrap_or(("?", "?"));
                    skipped.push(format!(
                        "foreign key {} on {schema}.{name} (references a table outside the backup)",
                        row.get::<_, String>(6)
                    ));
                }
            }
            _ => keys.push((table, row.get::<_, String>(4))),
        }
    }

    for table in &catalog.tables {
        let mut items = column_defs.remove(&table.oid).unwrap_or_default();
        items.extend(inline_checks.remove(&table.oid).unwrap_or_default());
        let body = if items.is_empty() {
            String::new()
        } else {
            format!("\n    {}\n", items.join(",\n    "))
        };
        let with = table.reloptions.as_ref().map(|o| format!(" WITH ({o})")).unwrap_or_default();
        pre.push_for(
            &table.spec.schema,
            &format!(
                "CREATE {}TABLE {} ({body}){with};",
                if table.unlogged { "UNLOGGED " } else { "" },
                super::qualified(&table.spec.schema, &table.spec.name)
            ),
        );
    }
    let table_comments = client
        .query(
            "SELECT format('COMMENT ON TABLE %I.%I IS %L;', n.nspname, c.relname, d.description), n.nspname \
             FROM pg_catalog.pg_description d JOIN pg_catalog.pg_class c ON c.oid = d.objoid \
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             WHERE d.classoid = 'pg_class'::regclass AND d.objsubid = 0 AND d.objoid = ANY($1) \
             ORDER BY n.nspname, c.relname",
            &[&oids],
        )
        .await
        .map_err(db_err("reading table comments"))?;
    for row in &table_comments {
        pre.push_for(row.get(1), row.get(0));
    }
    for table in &catalog.tables {
        for comment in column_comments.remove(&table.oid).unwrap_or_default() {
            pre.push_for(&table.spec.schema, &comment);
        }
    }
    for (schema, stmt) in owned_by {
        pre.push_for(&schema, &stmt);
    }

    // Post-data: keys and indexes (tagged with their table, so a restore can build them as soon
    // as that table is loaded), then CLUSTER ON, late checks and foreign keys in order.
    let group = |oid: &Oid| table_names.get(oid).copied();
    for (table, stmt) in &keys {
        post.push_in(group(table), stmt);
    }
    // Every index of the dumped tables, once: constraint-backed ones come with their constraint
    // (no CREATE INDEX), but CLUSTER ON applies to both kinds.
    let indexes = client
        .query(
            "SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint c \
                   WHERE c.conindid = i.indexrelid AND c.contype IN ('p','u','x')) \
                 THEN pg_catalog.pg_get_indexdef(i.indexrelid) || ';' END, \
               CASE WHEN i.indisclustered THEN format('ALTER TABLE ONLY %I.%I CLUSTER ON %I;', n.nspname, t.relname, ic.relname) END, \
               i.indrelid \
             FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class t ON t.oid = i.indrelid \
             JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid \
             JOIN pg_catalog.pg_namespace n ON n.oid = t.relnamespace \
             WHERE i.indrelid = ANY($1) \
             ORDER BY n.nspname, t.relname, ic.relname",
            &[&oids],
        )
        .await
        .map_err(db_err("reading indexes"))?;
    let mut cluster = Vec::new();
    for row in &indexes {
        if let Some(create) = row.get::<_, Option<String>>(0) {
            post.push_in(group(&row.get::<_, Oid>(2)), &create);
        }
        if let Some(stmt) = row.get::<_, Option<String>>(1) {
            cluster.push((row.get::<_, Oid>(2), stmt));
        }
    }
    // Serial statements, each tagged with the schema of the table it alters.
    for (table, stmt) in cluster.iter().chain(&late_checks).chain(&foreign) {
        match group(table) {
            Some((schema, _)) => post.push_for(schema, stmt),
            None => post.push(stmt),
        }
    }

    let unsupported = find_unsupported(client, schemas).await?;
    Ok(Generated {
        scripts: vec![pre.finish(Section::PreData), post.finish(Section::PostData)],
        extensions,
        sequences,
        unsupported,
        skipped,
    })
}

/// Every object in the selected schemas that [`generate`] does not reproduce, described by the
/// server (`pg_describe_object`). Extension members are excluded: the extension brings them.
async fn find_unsupported(client: &Client, schemas: &[String]) -> Result<Vec<String>> {
    let sql = format!(
        "SELECT pg_catalog.pg_describe_object('pg_class'::regclass, c.oid, 0) || CASE \
            WHEN c.relkind = 'p' THEN ' (partitioned table)' WHEN c.relispartition THEN ' (partition)' \
            WHEN c.reloftype <> 0 THEN ' (typed table)' WHEN c.relkind = 'r' AND c.relrowsecurity THEN ' (row level security)' \
            WHEN c.relkind = 'r' THEN ' (inheritance child)' ELSE '' END \
           FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
          WHERE n.nspname = ANY($1) AND {cls} AND (c.relkind IN ('v','m','f','p','c') \
                OR (c.relkind = 'r' AND (c.relispartition OR c.reloftype <> 0 OR c.relrowsecurity \
                    OR EXISTS (SELECT 1 FROM pg_catalog.pg_inherits i WHERE i.inhrelid = c.oid)))) \
         UNION ALL \
         SELECT pg_catalog.pg_describe_object('pg_type'::regclass, t.oid, 0) \
           FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace \
          WHERE n.nspname = ANY($1) AND {typ} AND t.typtype IN ('b','d','r','p') AND t.typcategory <> 'A' \
         UNION ALL \
         SELECT pg_catalog.pg_describe_object('pg_proc'::regclass, p.oid, 0) \
           FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace \
          WHERE n.nspname = ANY($1) AND {proc} \
         UNION ALL \
         SELECT pg_catalog.pg_describe_object('pg_trigger'::regclass, tg.oid, 0) \
           FROM pg_catalog.pg_trigger tg JOIN pg_catalog.pg_class c ON c.oid = tg.tgrelid \
           JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
          WHERE n.nspname = ANY($1) AND NOT tg.tgisinternal \
         UNION ALL \
         SELECT pg_catalog.pg_describe_object('pg_rewrite'::regclass, r.oid, 0) \
           FROM pg_catalog.pg_rewrite r JOIN pg_catalog.pg_class c ON c.oid = r.ev_class \
           JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
          WHERE n.nspname = ANY($1) AND r.rulename <> '_RETURN' \
         UNION ALL \
         SELECT pg_catalog.pg_describe_object('pg_policy'::regclass, p.oid, 0) \
           FROM pg_catalog.pg_policy p JOIN pg_catalog.pg_class c ON c.oid = p.polrelid \
           JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = ANY($1) \
         UNION ALL \
         SELECT pg_catalog.pg_describe_object(x.cat, x.oid, 0) FROM ( \
           SELECT 'pg_collation'::regclass AS cat, oid, collnamespace AS ns FROM pg_catalog.pg_collation \
           UNION ALL SELECT 'pg_operator'::regclass, oid, oprnamespace FROM pg_catalog.pg_operator \
           UNION ALL SELECT 'pg_opclass'::regclass, oid, opcnamespace FROM pg_catalog.pg_opclass \
           UNION ALL SELECT 'pg_opfamily'::regclass, oid, opfnamespace FROM pg_catalog.pg_opfamily \
           UNION ALL SELECT 'pg_conversion'::regclass, oid, connamespace FROM pg_catalog.pg_conversion \
           UNION ALL SELECT 'pg_statistic_ext'::regclass, oid, stxnamespace FROM pg_catalog.pg_statistic_ext \
           UNION ALL SELECT 'pg_ts_config'::regclass, oid, cfgnamespace FROM pg_catalog.pg_ts_config \
           UNION ALL SELECT 'pg_ts_dict'::regclass, oid, dictnamespace FROM pg_catalog.pg_ts_dict \
           UNION ALL SELECT 'pg_ts_parser'::regclass, oid, prsnamespace FROM pg_catalog.pg_ts_parser \
           UNION ALL SELECT 'pg_ts_template'::regclass, oid, tmplnamespace FROM pg_catalog.pg_ts_template \
         ) x JOIN pg_catalog.pg_namespace n ON n.oid = x.ns \
          WHERE n.nspname = ANY($1) AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d \
                WHERE d.classid = x.cat AND d.objid = x.oid AND d.deptype = 'e') \
         ORDER BY 1",
        cls = not_member("pg_class", "c.oid"),
        typ = not_member("pg_type", "t.oid"),
        proc = not_member("pg_proc", "p.oid"),
    );
    let rows = client
        .query(&sql, &[&schemas])
        .await
        .map_err(db_err("checking for unsupported objects"))?;
    Ok(rows.iter().map(|r| r.get::<_, String>(0)).collect())
}
