//! Schemas, extensions, collations and user types (enum, composite, range, domain).
//!
//! None of these has a server function that prints its DDL, so each is built from its
//! catalog row, with `format_type`, `pg_get_expr` and `pg_get_constraintdef` for the parts the
//! server can print. Collations are read through `to_jsonb` so the column renames between
//! versions (`colliculocale` in 15, `colllocale` in 17) do not matter. Base and shell types
//! (written in C) and ranges with a canonical function are left to `find_unsupported`.

use std::collections::HashMap;

use tokio_postgres::types::Oid;

use super::{Found, Object, Phase, Ref, Scope, db_err, not_member, priority};
use crate::engine::postgres::{quote_ident, quote_literal};
use crate::error::Result;
use crate::manifest::Extension;

pub(super) async fn schemas(scope: &Scope<'_>) -> Result<Found> {
    let rows = scope
        .client
        .query(
            "SELECT n.tableoid, n.oid, n.nspname, pg_catalog.pg_get_userbyid(n.nspowner) \
               FROM pg_catalog.pg_namespace n WHERE n.nspname = ANY($1) ORDER BY n.nspname",
            &[&scope.schemas],
        )
        .await
        .map_err(db_err("reading schemas"))?;
    let mut found = Found::default();
    for row in rows {
        let name: String = row.get(2);
        let ident = quote_ident(&name);
        found.objects.push(
            // IF NOT EXISTS: `public` usually exists already in the target.
            Object::new((row.get(0), row.get(1)), Phase::Pre, priority::SCHEMA, Some(&name), &name)
                .sql(format!("CREATE SCHEMA IF NOT EXISTS {ident};"))
                .target("SCHEMA", ident)
                .owned_by(row.get(3)),
        );
    }
    Ok(found)
}

/// Extensions installed in the selected schemas, or all of them (some live in `pg_catalog`) when
/// the whole database is backed up; plpgsql is always there.
pub(super) async fn extensions(scope: &Scope<'_>) -> Result<(Vec<Extension>, Found)> {
    let rows = scope
        .client
        .query(
            "SELECT e.tableoid, e.oid, e.extname, e.extversion, n.nspname FROM pg_catalog.pg_extension e \
               JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace \
              WHERE (n.nspname = ANY($1) OR $2) AND e.extname <> 'plpgsql' ORDER BY e.extname",
            &[&scope.schemas, &scope.whole_database],
        )
        .await
        .map_err(db_err("reading extensions"))?;
    let mut extensions = Vec::new();
    let mut found = Found::default();
    for row in rows {
        let (name, version, schema): (String, String, String) =
            (row.get(2), row.get(3), row.get(4));
        found.objects.push(
            Object::new(
                (row.get(0), row.get(1)),
                Phase::Pre,
                priority::EXTENSION,
                Some(&schema),
                &name,
            )
            .sql(format!(
                "CREATE EXTENSION IF NOT EXISTS {} WITH SCHEMA {} VERSION {};",
                quote_ident(&name),
                quote_ident(&schema),
                quote_literal(&version)
            ))
            .target("EXTENSION", quote_ident(&name)),
        );
        extensions.push(Extension { name, version });
    }
    Ok((extensions, found))
}

pub(super) async fn collations(scope: &Scope<'_>) -> Result<Found> {
    let sql = format!(
        "SELECT c.tableoid, c.oid, n.nspname, c.collname, pg_catalog.pg_get_userbyid(c.collowner), \
                pg_catalog.to_jsonb(c)::text \
           FROM pg_catalog.pg_collation c JOIN pg_catalog.pg_namespace n ON n.oid = c.collnamespace \
          WHERE n.nspname = ANY($1) AND {} ORDER BY n.nspname, c.collname",
        not_member("pg_collation", "c.oid")
    );
    let rows =
        scope.client.query(&sql, &[&scope.schemas]).await.map_err(db_err("reading collations"))?;
    let mut found = Found::default();
    for row in rows {
        let (schema, name): (String, String) = (row.get(2), row.get(3));
        let json: String = row.get(5);
        let c: serde_json::Value = serde_json::from_str(&json).unwrap_or_default();
        let text = |key: &str| c.get(key).and_then(|v| v.as_str()).filter(|s| !s.is_empty());
        let mut options = Vec::new();
        match text("collprovider") {
            Some("i") => {
                options.push("provider = icu".to_string());
                if let Some(locale) = text("colllocale").or(text("colliculocale")) {
                    options.push(format!("locale = {}", quote_literal(locale)));
                }
                if let Some(rules) = text("collicurules") {
                    options.push(format!("rules = {}", quote_literal(rules)));
                }
            }
            Some("b") => {
                options.push("provider = builtin".to_string());
                if let Some(locale) = text("colllocale") {
                    options.push(format!("locale = {}", quote_literal(locale)));
                }
            }
            _ => {
                options.push("provider = libc".to_string());
                let (collate, ctype) = (text("collcollate"), text("collctype"));
                if collate == ctype
                    && let Some(locale) = collate
                {
                    options.push(format!("locale = {}", quote_literal(locale)));
                } else {
                    if let Some(collate) = collate {
                        options.push(format!("lc_collate = {}", quote_literal(collate)));
                    }
                    if let Some(ctype) = ctype {
                        options.push(format!("lc_ctype = {}", quote_literal(ctype)));
                    }
                }
            }
        }
        if c.get("collisdeterministic").and_then(|v| v.as_bool()) == Some(false) {
            options.push("deterministic = false".to_string());
        }
        let ident = super::super::qualified(&schema, &name);
        found.objects.push(
            Object::new(
                (row.get(0), row.get(1)),
                Phase::Pre,
                priority::COLLATION,
                Some(&schema),
                &name,
            )
            .sql(format!("CREATE COLLATION {ident} ({});", options.join(", ")))
            .target("COLLATION", ident)
            .owned_by(row.get(4)),
        );
    }
    Ok(found)
}

/// Enum, composite, range and domain types.
pub(super) async fn types(scope: &Scope<'_>) -> Result<Found> {
    let client = scope.client;
    let sql = format!(
        "SELECT t.tableoid, t.oid, n.nspname, t.typname, t.typtype::text, \
                pg_catalog.pg_get_userbyid(t.typowner), t.typarray, t.typrelid, \
                (SELECT c.tableoid FROM pg_catalog.pg_class c WHERE c.oid = t.typrelid), \
                CASE t.typtype \
                  WHEN 'e' THEN coalesce((SELECT pg_catalog.string_agg(pg_catalog.quote_literal(e.enumlabel), ', ' \
                                  ORDER BY e.enumsortorder) FROM pg_catalog.pg_enum e WHERE e.enumtypid = t.oid), '') \
                  WHEN 'c' THEN coalesce((SELECT pg_catalog.string_agg(pg_catalog.format('%I %s', a.attname, \
                                    pg_catalog.format_type(a.atttypid, a.atttypmod)) || {collate}, ',\n    ' ORDER BY a.attnum) \
                                  FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_type at ON at.oid = a.atttypid \
                                  WHERE a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped), '') \
                  WHEN 'r' THEN (SELECT pg_catalog.concat_ws(', ', \
                                   'subtype = ' || pg_catalog.format_type(r.rngsubtype, NULL), \
                                   (SELECT pg_catalog.format('multirange_type_name = %I.%I', mn.nspname, m.typname) \
                                      FROM pg_catalog.pg_type m JOIN pg_catalog.pg_namespace mn ON mn.oid = m.typnamespace \
                                     WHERE m.oid = r.rngmultitypid), \
                                   (SELECT pg_catalog.format('subtype_opclass = %I.%I', ocn.nspname, oc.opcname) \
                                      FROM pg_catalog.pg_opclass oc JOIN pg_catalog.pg_namespace ocn ON ocn.oid = oc.opcnamespace \
                                     WHERE oc.oid = r.rngsubopc AND NOT oc.opcdefault), \
                                   (SELECT pg_catalog.format('collation = %I.%I', con.nspname, co.collname) \
                                      FROM pg_catalog.pg_collation co JOIN pg_catalog.pg_namespace con ON con.oid = co.collnamespace \
                                     WHERE co.oid = r.rngcollation AND r.rngcollation <> \
                                       (SELECT st.typcollation FROM pg_catalog.pg_type st WHERE st.oid = r.rngsubtype)), \
                                   CASE WHEN r.rngsubdiff <> 0 THEN 'subtype_diff = ' || r.rngsubdiff::pg_catalog.regproc::text END) \
                                  FROM pg_catalog.pg_range r WHERE r.rngtypid = t.oid AND r.rngcanonical = 0) \
                  WHEN 'd' THEN pg_catalog.format_type(t.typbasetype, t.typtypmod) \
                     || CASE WHEN t.typcollation <> bt.typcollation THEN (SELECT pg_catalog.format(' COLLATE %I.%I', \
                          con.nspname, co.collname) FROM pg_catalog.pg_collation co \
                          JOIN pg_catalog.pg_namespace con ON con.oid = co.collnamespace WHERE co.oid = t.typcollation) ELSE '' END \
                     || coalesce(' DEFAULT ' || pg_catalog.pg_get_expr(t.typdefaultbin, 0), '') \
                     || CASE WHEN t.typnotnull THEN ' NOT NULL' ELSE '' END \
                END, \
                (SELECT r.rngmultitypid FROM pg_catalog.pg_range r WHERE r.rngtypid = t.oid), \
                (SELECT m.typarray FROM pg_catalog.pg_range r JOIN pg_catalog.pg_type m ON m.oid = r.rngmultitypid \
                  WHERE r.rngtypid = t.oid) \
           FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace \
           LEFT JOIN pg_catalog.pg_type bt ON bt.oid = t.typbasetype \
          WHERE n.nspname = ANY($1) AND {member} \
            AND (t.typtype IN ('e', 'r', 'd') OR (t.typtype = 'c' AND \
                 (SELECT c.relkind FROM pg_catalog.pg_class c WHERE c.oid = t.typrelid) = 'c')) \
          ORDER BY n.nspname, t.typname",
        collate = "CASE WHEN a.attcollation <> at.typcollation AND a.attcollation <> 0 THEN \
                   (SELECT pg_catalog.format(' COLLATE %I.%I', con.nspname, co.collname) FROM pg_catalog.pg_collation co \
                    JOIN pg_catalog.pg_namespace con ON con.oid = co.collnamespace WHERE co.oid = a.attcollation) ELSE '' END",
        member = not_member("pg_type", "t.oid"),
    );
    let rows = client.query(&sql, &[&scope.schemas]).await.map_err(db_err("reading types"))?;
    let domain_checks = domain_constraints(scope).await?;
    let mut found = Found::default();
    let mut checks = domain_checks;
    for row in rows {
        let reference: Ref = (row.get(0), row.get(1));
        let (schema, name, kind): (String, String, String) = (row.get(2), row.get(3), row.get(4));
        let body: Option<String> = row.get(9);
        let Some(body) = body else { continue }; // a range with a canonical function
        let ident = super::super::qualified(&schema, &name);
        let mut object = Object::new(reference, Phase::Pre, priority::TYPE, Some(&schema), &name)
            .owned_by(row.get(5));
        object.refs.push((reference.0, row.get(6)));
        if let (Some(class), relid) = (row.get::<_, Option<Oid>>(8), row.get::<_, Oid>(7)) {
            object.refs.push((class, relid));
        }
        if let Some(multi) = row.get::<_, Option<Oid>>(10) {
            object.refs.push((reference.0, multi));
        }
        if let Some(multi_array) = row.get::<_, Option<Oid>>(11) {
            object.refs.push((reference.0, multi_array));
        }
        let create = match kind.as_str() {
            "e" => format!("CREATE TYPE {ident} AS ENUM ({body});"),
            "c" => format!("CREATE TYPE {ident} AS (\n    {body}\n);"),
            "r" => format!("CREATE TYPE {ident} AS RANGE ({body});"),
            _ => {
                let mut create = format!("CREATE DOMAIN {ident} AS {body}");
                let mut late = Vec::new();
                for c in checks.remove(&reference.1).unwrap_or_default() {
                    object.refs.push(c.reference);
                    if c.validated {
                        create.push_str(&format!(
                            "\n    CONSTRAINT {} {}",
                            quote_ident(&c.name),
                            c.definition
                        ));
                    } else {
                        late.push(c);
                    }
                }
                for c in late {
                    // NOT VALID checks are added after the data, as pg_dump does.
                    let mut check = Object::new(
                        c.reference,
                        Phase::Post,
                        priority::CONSTRAINT,
                        Some(&schema),
                        &c.name,
                    )
                    .sql(format!(
                        "ALTER DOMAIN {ident} ADD CONSTRAINT {} {};",
                        quote_ident(&c.name),
                        c.definition
                    ))
                    .target("CONSTRAINT", format!("{} ON DOMAIN {ident}", quote_ident(&c.name)));
                    check.deps.push(reference);
                    found.objects.push(check);
                }
                object = object.target("DOMAIN", ident.clone());
                object.statements.push(format!("{create};"));
                found.objects.push(object);
                continue;
            }
        };
        found.objects.push(object.sql(create).target("TYPE", ident));
    }
    Ok(found)
}

struct DomainCheck {
    reference: Ref,
    name: String,
    definition: String,
    validated: bool,
}

async fn domain_constraints(scope: &Scope<'_>) -> Result<HashMap<Oid, Vec<DomainCheck>>> {
    let rows = scope
        .client
        .query(
            "SELECT c.tableoid, c.oid, c.contypid, c.conname, pg_catalog.pg_get_constraintdef(c.oid), c.convalidated \
               FROM pg_catalog.pg_constraint c JOIN pg_catalog.pg_type t ON t.oid = c.contypid \
               JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace \
              WHERE n.nspname = ANY($1) AND c.contype = 'c' ORDER BY c.conname",
            &[&scope.schemas],
        )
        .await
        .map_err(db_err("reading domain constraints"))?;
    let mut checks: HashMap<Oid, Vec<DomainCheck>> = HashMap::new();
    for row in rows {
        let definition: String = row.get(4);
        checks.entry(row.get(2)).or_default().push(DomainCheck {
            reference: (row.get(0), row.get(1)),
            name: row.get(3),
            // pg_get_constraintdef ends a NOT VALID check with NOT VALID itself.
            definition,
            validated: row.get(5),
        });
    }
    Ok(checks)
}
