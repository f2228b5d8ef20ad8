//! Post-data objects of tables: primary, unique and exclusion constraints, foreign keys,
//! NOT VALID checks, indexes, partitioned index attachments, CLUSTER ON and REPLICA IDENTITY
//! USING INDEX.
//!
//! Keys and indexes of a data table are tagged with it, so a restore builds them as soon as its
//! rows are in, in parallel with other tables (pg_restore -j). Foreign keys and attachments
//! need other tables' keys, so they run after all of them. Constraints cloned onto partitions
//! by a foreign key of their parent are the parent's (pg_dump skips them too); keys of
//! partitions are their own, attached to the parent's index.

use tokio_postgres::types::Oid;

use super::{Found, Object, Phase, Ref, Scope, db_err, not_member, priority};
use crate::engine::postgres::{qualified, quote_ident};
use crate::error::Result;

pub(super) async fn constraints(scope: &Scope<'_>) -> Result<Found> {
    let oids: Vec<Oid> = scope.tables.keys().copied().collect();
    let rows = scope
        .client
        .query(
            "SELECT c.tableoid, c.oid, c.conrelid, c.contype::text, c.conname, pg_catalog.pg_get_constraintdef(c.oid), \
                    c.conparentid, c.confrelid, c.conindid, c.convalidated, c.conislocal, \
                    'pg_catalog.pg_class'::pg_catalog.regclass::oid \
               FROM pg_catalog.pg_constraint c \
              WHERE c.conrelid = ANY($1) AND c.contype IN ('p', 'u', 'x', 'f', 'c') \
              ORDER BY c.conname",
            &[&oids],
        )
        .await
        .map_err(db_err("reading constraints"))?;
    let mut found = Found::default();
    for row in rows {
        let reference: Ref = (row.get(0), row.get(1));
        let table: Oid = row.get(2);
        let kind: String = row.get(3);
        let name: String = row.get(4);
        let definition: String = row.get(5);
        let Some((schema, table_name)) = scope.table(table) else { continue };
        let partitioned = scope.tables.get(&table).is_some_and(|t| t.2 == 'p');
        let ident = qualified(schema, table_name);
        let only = if partitioned { "" } else { "ONLY " };
        let add = format!(
            "ALTER TABLE {only}{ident} ADD CONSTRAINT {} {definition};",
            quote_ident(&name)
        );
        let target = format!("{} ON {ident}", quote_ident(&name));
        let object = match kind.as_str() {
            // Validated checks are in CREATE TABLE.
            "c" if row.get::<_, bool>(9) => continue,
            "c" if !row.get::<_, bool>(10) => {
                found.ignored.push(reference);
                continue;
            }
            // Without ONLY, as pg_dump: on an inheritance parent the check must reach the
            // children too (they hold it as inherited).
            "c" => Object::new(reference, Phase::Post, priority::CONSTRAINT, Some(schema), &name)
                .sql(format!(
                    "ALTER TABLE {ident} ADD CONSTRAINT {} {definition};",
                    quote_ident(&name)
                )),
            "f" if row.get::<_, Oid>(6) != 0 => {
                found.ignored.push(reference);
                continue;
            }
            "f" if !scope.tables.contains_key(&row.get::<_, Oid>(7)) => {
                found.ignored.push(reference);
                found.skipped.push(format!(
                    "foreign key {name} on {schema}.{table_name} (references a table outside the backup)"
                ));
                continue;
            }
            "f" => {
                Object::new(reference, Phase::Post, priority::FK_CONSTRAINT, Some(schema), &name)
                    .sql(add)
            }
            _ => {
                let mut key =
                    Object::new(reference, Phase::Post, priority::CONSTRAINT, Some(schema), &name)
                        .sql(format!(
                            "ALTER TABLE ONLY {ident} ADD CONSTRAINT {} {definition};",
                            quote_ident(&name)
                        ));
                key.refs.push((row.get(11), row.get(8)));
                key.table = scope.data_tag(table);
                key
            }
        };
        found.objects.push(object.target("CONSTRAINT", target));
    }
    Ok(found)
}

pub(super) async fn indexes(scope: &Scope<'_>) -> Result<Found> {
    let oids: Vec<Oid> = scope.tables.keys().copied().collect();
    let sql = format!(
        "SELECT ic.tableoid, i.indexrelid, i.indrelid, n.nspname, ic.relname, pg_catalog.pg_get_indexdef(i.indexrelid), \
                EXISTS (SELECT 1 FROM pg_catalog.pg_constraint c WHERE c.conindid = i.indexrelid \
                        AND c.conrelid = i.indrelid AND c.contype IN ('p', 'u', 'x')), \
                i.indisclustered, i.indisreplident, i.indisvalid OR t.relkind = 'p', \
                (SELECT pg_catalog.format('%I.%I', pn.nspname, p.relname) FROM pg_catalog.pg_inherits h \
                   JOIN pg_catalog.pg_class p ON p.oid = h.inhparent JOIN pg_catalog.pg_namespace pn ON pn.oid = p.relnamespace \
                  WHERE h.inhrelid = i.indexrelid), \
                (SELECT h.inhparent FROM pg_catalog.pg_inherits h WHERE h.inhrelid = i.indexrelid), \
                tn.nspname, t.relname, t.relkind::text, \
                (SELECT pg_catalog.string_agg(pg_catalog.format('ALTER INDEX %I.%I ALTER COLUMN %s SET STATISTICS %s;', \
                          n.nspname, ic.relname, a.attnum, a.attstattarget), E'\\n' ORDER BY a.attnum) \
                   FROM pg_catalog.pg_attribute a WHERE a.attrelid = i.indexrelid AND a.attstattarget >= 0), \
                (SELECT pi.indrelid FROM pg_catalog.pg_inherits h JOIN pg_catalog.pg_index pi ON pi.indexrelid = h.inhparent \
                  WHERE h.inhrelid = i.indexrelid) \
           FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid \
           JOIN pg_catalog.pg_namespace n ON n.oid = ic.relnamespace \
           JOIN pg_catalog.pg_class t ON t.oid = i.indrelid JOIN pg_catalog.pg_namespace tn ON tn.oid = t.relnamespace \
          WHERE (i.indrelid = ANY($1) OR (t.relkind = 'm' AND tn.nspname = ANY($2) AND {member})) \
          ORDER BY n.nspname, ic.relname",
        member = not_member("pg_class", "t.oid")
    );
    let rows = scope
        .client
        .query(&sql, &[&oids, &scope.schemas])
        .await
        .map_err(db_err("reading indexes"))?;
    let mut found = Found::default();
    for row in rows {
        let reference: Ref = (row.get(0), row.get(1));
        let table: Oid = row.get(2);
        let (schema, name): (String, String) = (row.get(3), row.get(4));
        let (table_schema, table_name): (String, String) = (row.get(12), row.get(13));
        let table_ident = qualified(&table_schema, &table_name);
        let index_ident = qualified(&schema, &name);
        let tag = scope.data_tag(table);
        if !row.get::<_, bool>(9) {
            // An index a failed CREATE INDEX CONCURRENTLY left behind: pg_dump skips it too.
            found.ignored.push(reference);
            continue;
        }
        if !row.get::<_, bool>(6) {
            let mut index =
                Object::new(reference, Phase::Post, priority::INDEX, Some(&schema), &name)
                    .sql(format!("{};", row.get::<_, String>(5)))
                    .target("INDEX", index_ident.clone());
            index.table = tag.clone();
            found.objects.push(index);
        }
        let only = if row.get::<_, String>(14) == "p" { "" } else { "ONLY " };
        let mut follow = |statement: String, priority: u8| {
            let mut object =
                Object::unnamed(Phase::Post, priority, Some(&schema), &name).sql(statement);
            object.deps.push(reference);
            found.objects.push(object);
        };
        if let Some(statistics) = row.get::<_, Option<String>>(15) {
            for statement in statistics.lines() {
                follow(statement.to_string(), priority::INDEX);
            }
        }
        if row.get::<_, bool>(7) {
            follow(
                format!("ALTER TABLE {only}{table_ident} CLUSTER ON {};", quote_ident(&name)),
                priority::INDEX,
            );
        }
        if row.get::<_, bool>(8) {
            follow(
                format!(
                    "ALTER TABLE ONLY {table_ident} REPLICA IDENTITY USING INDEX {};",
                    quote_ident(&name)
                ),
                priority::INDEX,
            );
        }
        // An index of a partition attaches to its parent's index, if that index's table is here.
        if let (Some(parent), Some(parent_oid)) =
            (row.get::<_, Option<String>>(10), row.get::<_, Option<Oid>>(11))
        {
            let parent_table: Option<Oid> = row.get(16);
            if parent_table.is_some_and(|t| scope.tables.contains_key(&t)) {
                let mut attach =
                    Object::unnamed(Phase::Post, priority::INDEX_ATTACH, Some(&schema), &name)
                        .sql(format!("ALTER INDEX {parent} ATTACH PARTITION {index_ident};"));
                attach.deps.push(reference);
                attach.deps.push((reference.0, parent_oid));
                found.objects.push(attach);
            } else {
                found.skipped.push(format!(
                    "attachment of index {schema}.{name} to {parent} (its table is not in the backup)"
                ));
            }
        }
    }
    Ok(found)
}
