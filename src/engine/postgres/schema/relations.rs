//! Sequences and tables: plain, unlogged, partitioned, partitions, inheritance children, typed.
//!
//! Tables follow pg_dump's shapes. A partition is a standalone `CREATE TABLE` with every column
//! and every check (the ones `ATTACH PARTITION` expects), then `ALTER TABLE ONLY parent ATTACH
//! PARTITION`, which also marks the inherited columns and checks as such. An inheritance child
//! lists only its local columns and checks, with `INHERITS`. Column defaults are separate
//! `ALTER COLUMN ... SET DEFAULT` objects ordered by their own dependencies, so a default
//! calling a function or a sequence owned by the table never makes a cycle. Identity and
//! generated columns stay inline: they cannot be added another way without changing the table.

use std::collections::HashMap;

use tokio_postgres::types::Oid;

use super::{Found, Object, Phase, Ref, Scope, db_err, not_member, priority};
use crate::engine::postgres::{qualified, quote_ident};
use crate::error::Result;

/// Sequences that are not identity sequences (those come with their column), and the names
/// of every sequence whose value the backup records.
pub(super) async fn sequences(scope: &Scope<'_>) -> Result<(Vec<(String, String)>, Found)> {
    let sql = format!(
        "SELECT c.tableoid, c.oid, n.nspname, c.relname, pg_catalog.pg_get_userbyid(c.relowner), \
           pg_catalog.format('CREATE %sSEQUENCE %I.%I AS %s START WITH %s INCREMENT BY %s MINVALUE %s MAXVALUE %s CACHE %s%s;', \
             CASE WHEN c.relpersistence = 'u' THEN 'UNLOGGED ' ELSE '' END, \
             n.nspname, c.relname, pg_catalog.format_type(s.seqtypid, NULL), s.seqstart, s.seqincrement, \
             s.seqmin, s.seqmax, s.seqcache, CASE WHEN s.seqcycle THEN ' CYCLE' ELSE '' END), \
           owner.refobjid, \
           (SELECT pg_catalog.format('ALTER SEQUENCE %I.%I OWNED BY %I.%I.%I;', n.nspname, c.relname, tn.nspname, tc.relname, a.attname) \
              FROM pg_catalog.pg_class tc JOIN pg_catalog.pg_namespace tn ON tn.oid = tc.relnamespace \
              JOIN pg_catalog.pg_attribute a ON a.attrelid = tc.oid AND a.attnum = owner.refobjsubid \
             WHERE tc.oid = owner.refobjid), \
           ident.refobjid \
         FROM pg_catalog.pg_sequence s JOIN pg_catalog.pg_class c ON c.oid = s.seqrelid \
         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         LEFT JOIN pg_catalog.pg_depend owner ON owner.classid = 'pg_catalog.pg_class'::pg_catalog.regclass \
              AND owner.objid = c.oid AND owner.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass AND owner.deptype = 'a' \
         LEFT JOIN pg_catalog.pg_depend ident ON ident.classid = 'pg_catalog.pg_class'::pg_catalog.regclass \
              AND ident.objid = c.oid AND ident.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass AND ident.deptype = 'i' \
         WHERE n.nspname = ANY($1) AND {} ORDER BY n.nspname, c.relname",
        not_member("pg_class", "c.oid")
    );
    let rows =
        scope.client.query(&sql, &[&scope.schemas]).await.map_err(db_err("reading sequences"))?;
    let mut names = Vec::new();
    let mut found = Found::default();
    for row in rows {
        let reference: Ref = (row.get(0), row.get(1));
        let (schema, name): (String, String) = (row.get(2), row.get(3));
        if let Some(table) = row.get::<_, Option<Oid>>(8) {
            // An identity sequence comes with its column; its value is recorded if the table is.
            found.ignored.push(reference);
            if scope.tables.contains_key(&table) {
                names.push((schema, name));
            }
            continue;
        }
        found.objects.push(
            Object::new(reference, Phase::Pre, priority::TABLE, Some(&schema), &name)
                .sql(row.get::<_, String>(5))
                .target("SEQUENCE", qualified(&schema, &name))
                .owned_by(row.get(4)),
        );
        // OWNED BY needs the sequence's owner set first (it must be the table's), so it is an
        // object of its own, after the sequence and its ALTER OWNER.
        if let (Some(owner), Some(stmt)) =
            (row.get::<_, Option<Oid>>(6), row.get::<_, Option<String>>(7))
            && scope.tables.contains_key(&owner)
        {
            let mut owned_by =
                Object::unnamed(Phase::Pre, priority::TABLE, Some(&schema), &name).sql(stmt);
            owned_by.deps.push(reference);
            owned_by.deps.push((reference.0, owner));
            found.objects.push(owned_by);
        }
        names.push((schema, name));
    }
    Ok((names, found))
}

struct Column {
    /// The quoted name.
    name: String,
    definition: String,
    local: bool,
    /// NOT NULL that the parents do not impose.
    own_not_null: bool,
    follow_ups: Vec<String>,
    default: Option<(Ref, String)>,
    identity_sequence: Option<Ref>,
}

struct Check {
    reference: Ref,
    definition: String,
    local: bool,
}

pub(super) async fn tables(scope: &Scope<'_>) -> Result<Found> {
    let client = scope.client;
    let oids: Vec<Oid> = scope.tables.keys().copied().collect();
    let rows = client
        .query(
            "SELECT c.tableoid, c.oid, c.relkind::text, c.relpersistence = 'u', pg_catalog.pg_get_userbyid(c.relowner), \
                    pg_catalog.array_to_string(pg_catalog.array_cat(c.reloptions, \
                      (SELECT pg_catalog.array_agg('toast.' || o) FROM pg_catalog.pg_class tc, \
                         pg_catalog.unnest(tc.reloptions) o WHERE tc.oid = c.reltoastrelid)), ', '), \
                    CASE WHEN c.relkind = 'p' THEN pg_catalog.pg_get_partkeydef(c.oid) END, \
                    c.relispartition, CASE WHEN c.relispartition THEN pg_catalog.pg_get_expr(c.relpartbound, c.oid) END, \
                    (SELECT pg_catalog.array_agg(i.inhparent ORDER BY i.inhseqno) FROM pg_catalog.pg_inherits i WHERE i.inhrelid = c.oid), \
                    CASE WHEN c.reloftype <> 0 THEN pg_catalog.format_type(c.reloftype, NULL) END, \
                    (SELECT am.amname FROM pg_catalog.pg_am am WHERE am.oid = c.relam AND am.amname <> 'heap'), \
                    c.relreplident::text, c.relrowsecurity, c.relforcerowsecurity, \
                    'pg_catalog.pg_type'::pg_catalog.regclass::oid, c.reltype, \
                    (SELECT t.typarray FROM pg_catalog.pg_type t WHERE t.oid = c.reltype), \
                    EXISTS (SELECT 1 FROM pg_catalog.pg_inherits i WHERE i.inhparent = c.oid), \
                    ARRAY(SELECT pg_catalog.format('%I.%I', pn.nspname, p.relname) FROM pg_catalog.pg_inherits i \
                            JOIN pg_catalog.pg_class p ON p.oid = i.inhparent \
                            JOIN pg_catalog.pg_namespace pn ON pn.oid = p.relnamespace \
                           WHERE i.inhrelid = c.oid ORDER BY i.inhseqno) \
               FROM pg_catalog.pg_class c WHERE c.oid = ANY($1)",
            &[&oids],
        )
        .await
        .map_err(db_err("reading tables"))?;
    let mut columns = read_columns(scope, &oids).await?;
    let mut checks = read_checks(scope, &oids).await?;
    let mut found = Found::default();
    for row in rows {
        let reference: Ref = (row.get(0), row.get(1));
        let oid = reference.1;
        let Some((schema, name)) = scope.table(oid) else { continue };
        let ident = qualified(schema, name);
        let kind: String = row.get(2);
        let partition: bool = row.get(7);
        let parents: Vec<Oid> = row.get::<_, Option<Vec<Oid>>>(9).unwrap_or_default();
        let of_type: Option<String> = row.get(10);
        let inherits = !partition && !parents.is_empty();
        let mut object = Object::new(reference, Phase::Pre, priority::TABLE, Some(schema), name)
            .target("TABLE", ident.clone())
            .owned_by(row.get(4));
        object.refs.push((row.get(15), row.get(16)));
        if let Some(array) = row.get::<_, Option<Oid>>(17) {
            object.refs.push((row.get(15), array));
        }

        let mut items = Vec::new();
        let mut follow_ups = Vec::new();
        for column in columns.remove(&oid).unwrap_or_default() {
            object.refs.extend(column.identity_sequence);
            if let Some((attrdef, expr)) = column.default {
                let mut default =
                    Object::new(attrdef, Phase::Pre, priority::ATTRDEF, Some(schema), name)
                        .sql(format!("ALTER TABLE ONLY {ident} ALTER COLUMN {expr};"));
                default.deps.push(reference);
                found.objects.push(default);
            }
            follow_ups.extend(column.follow_ups);
            if of_type.is_some() {
                if column.own_not_null {
                    items.push(format!("{} WITH OPTIONS NOT NULL", column.name));
                }
            } else if partition || column.local {
                items.push(column.definition.clone());
            } else if column.own_not_null {
                follow_ups.push(format!(
                    "ALTER TABLE ONLY {ident} ALTER COLUMN {} SET NOT NULL;",
                    column.name
                ));
            }
        }
        // A table outside any hierarchy gets its checks as separate objects, ordered by their
        // own dependencies: a check calling a function whose body reads the table (a cycle
        // with an inline check) then restores, as pg_dump's cycle repair does. In a hierarchy
        // they stay inline, where inheritance and ATTACH expect them.
        let plain = kind != "p" && !partition && parents.is_empty() && !row.get::<_, bool>(18);
        for check in checks.remove(&oid).unwrap_or_default() {
            if plain {
                let mut separate =
                    Object::new(check.reference, Phase::Pre, priority::ATTRDEF, Some(schema), name)
                        .sql(format!("ALTER TABLE ONLY {ident} ADD {};", check.definition));
                separate.deps.push(reference);
                found.objects.push(separate);
            } else if partition || check.local {
                object.refs.push(check.reference);
                items.push(check.definition);
            } else {
                found.ignored.push(check.reference);
            }
        }
        let body = if items.is_empty() {
            String::new()
        } else {
            format!("\n    {}\n", items.join(",\n    "))
        };
        let mut create =
            format!("CREATE {}TABLE {ident}", if row.get::<_, bool>(3) { "UNLOGGED " } else { "" });
        match &of_type {
            Some(t) if body.is_empty() => create.push_str(&format!(" OF {t}")),
            Some(t) => create.push_str(&format!(" OF {t} ({body})")),
            None => create.push_str(&format!(" ({body})")),
        }
        if inherits {
            // Parents outside the backup are named all the same, as pg_dump does: the child
            // has only its local columns, so the restore must find them (and says so if not).
            let names: Vec<String> = row.get(19);
            create.push_str(&format!("\nINHERITS ({})", names.join(", ")));
        }
        if let Some(key) = row.get::<_, Option<String>>(6) {
            create.push_str(&format!("\nPARTITION BY {key}"));
        }
        if let Some(am) = row.get::<_, Option<String>>(11) {
            create.push_str(&format!("\nUSING {}", quote_ident(&am)));
        }
        if let Some(options) = row.get::<_, Option<String>>(5).filter(|o| !o.is_empty()) {
            create.push_str(&format!("\nWITH ({options})"));
        }
        create.push(';');
        object.statements.push(create);
        object.statements.extend(follow_ups);
        match row.get::<_, String>(12).as_str() {
            "n" => object
                .statements
                .push(format!("ALTER TABLE ONLY {ident} REPLICA IDENTITY NOTHING;")),
            "f" => {
                object.statements.push(format!("ALTER TABLE ONLY {ident} REPLICA IDENTITY FULL;"))
            }
            _ => {}
        }
        if partition {
            let bound: Option<String> = row.get(8);
            match (parents.first().and_then(|p| scope.table(*p)), bound) {
                (Some((ps, pn)), Some(bound)) => {
                    let mut attach =
                        Object::unnamed(Phase::Pre, priority::TABLE_ATTACH, Some(schema), name)
                            .sql(format!(
                                "ALTER TABLE ONLY {} ATTACH PARTITION {ident} {bound};",
                                qualified(ps, pn)
                            ));
                    attach.deps.push(reference);
                    attach.deps.push((reference.0, parents[0]));
                    found.objects.push(attach);
                }
                _ => found.skipped.push(format!(
                    "partition attachment of {schema}.{name} (its parent is not in the backup)"
                )),
            }
        }
        // Row security is switched on after the data, as pg_dump does, so loading is not filtered.
        let mut security = Vec::new();
        if row.get::<_, bool>(13) {
            security.push(format!("ALTER TABLE {ident} ENABLE ROW LEVEL SECURITY;"));
        }
        if row.get::<_, bool>(14) {
            security.push(format!("ALTER TABLE ONLY {ident} FORCE ROW LEVEL SECURITY;"));
        }
        if !security.is_empty() {
            let mut rls = Object::unnamed(Phase::Post, priority::POLICY, Some(schema), name);
            rls.statements = security;
            rls.deps.push(reference);
            found.objects.push(rls);
        }
        found.objects.push(object);
    }
    Ok(found)
}

/// The per-column `ALTER ... SET STATISTICS | STORAGE | COMPRESSION | (options)` statements of
/// relations (materialized views have them too).
pub(super) async fn column_follow_ups(
    scope: &Scope<'_>,
    oids: &[Oid],
) -> Result<HashMap<Oid, Vec<String>>> {
    Ok(read_columns(scope, oids)
        .await?
        .into_iter()
        .map(|(oid, columns)| (oid, columns.into_iter().flat_map(|c| c.follow_ups).collect()))
        .collect())
}

async fn read_columns(scope: &Scope<'_>, oids: &[Oid]) -> Result<HashMap<Oid, Vec<Column>>> {
    let rows = scope
        .client
        .query(
            "SELECT a.attrelid, \
               pg_catalog.format('%I %s', a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod)) \
               || CASE WHEN a.attcollation <> t.typcollation AND a.attcollation <> 0 \
                       THEN pg_catalog.format(' COLLATE %I.%I', cn.nspname, co.collname) ELSE '' END \
               || CASE WHEN a.attgenerated = 's' THEN pg_catalog.format(' GENERATED ALWAYS AS (%s) STORED', \
                          pg_catalog.pg_get_expr(ad.adbin, ad.adrelid)) ELSE '' END \
               || CASE a.attidentity WHEN 'a' THEN ' GENERATED ALWAYS AS IDENTITY' \
                                      WHEN 'd' THEN ' GENERATED BY DEFAULT AS IDENTITY' ELSE '' END \
               || coalesce(( \
                   SELECT pg_catalog.format(' (SEQUENCE NAME %I.%I START WITH %s INCREMENT BY %s MINVALUE %s MAXVALUE %s CACHE %s%s)', \
                          sn.nspname, sc.relname, s.seqstart, s.seqincrement, s.seqmin, s.seqmax, s.seqcache, \
                          CASE WHEN s.seqcycle THEN ' CYCLE' ELSE '' END) \
                     FROM pg_catalog.pg_class sc JOIN pg_catalog.pg_namespace sn ON sn.oid = sc.relnamespace \
                     JOIN pg_catalog.pg_sequence s ON s.seqrelid = sc.oid WHERE sc.oid = idseq.objid), ''), \
               a.attnotnull, a.attislocal, \
               EXISTS (SELECT 1 FROM pg_catalog.pg_inherits i JOIN pg_catalog.pg_attribute pa \
                         ON pa.attrelid = i.inhparent AND pa.attname = a.attname AND pa.attnotnull \
                        WHERE i.inhrelid = a.attrelid), \
               pg_catalog.concat_ws(E'\\n', \
                 (SELECT pg_catalog.format('ALTER SEQUENCE %I.%I AS %s;', sn.nspname, sc.relname, \
                         pg_catalog.format_type(s.seqtypid, NULL)) \
                    FROM pg_catalog.pg_class sc JOIN pg_catalog.pg_namespace sn ON sn.oid = sc.relnamespace \
                    JOIN pg_catalog.pg_sequence s ON s.seqrelid = sc.oid \
                   WHERE sc.oid = idseq.objid AND s.seqtypid <> a.atttypid), \
                 CASE WHEN a.attstattarget >= 0 THEN pg_catalog.format('ALTER TABLE ONLY %s ALTER COLUMN %I SET STATISTICS %s;', \
                      a.attrelid::pg_catalog.regclass, a.attname, a.attstattarget) END, \
                 CASE WHEN a.attstorage <> t.typstorage THEN pg_catalog.format('ALTER TABLE ONLY %s ALTER COLUMN %I SET STORAGE %s;', \
                      a.attrelid::pg_catalog.regclass, a.attname, \
                      CASE a.attstorage WHEN 'p' THEN 'PLAIN' WHEN 'e' THEN 'EXTERNAL' WHEN 'm' THEN 'MAIN' ELSE 'EXTENDED' END) END, \
                 CASE WHEN a.attcompression <> '' THEN pg_catalog.format('ALTER TABLE ONLY %s ALTER COLUMN %I SET COMPRESSION %s;', \
                      a.attrelid::pg_catalog.regclass, a.attname, CASE a.attcompression WHEN 'l' THEN 'lz4' ELSE 'pglz' END) END, \
                 CASE WHEN a.attoptions IS NOT NULL THEN pg_catalog.format('ALTER TABLE ONLY %s ALTER COLUMN %I SET (%s);', \
                      a.attrelid::pg_catalog.regclass, a.attname, pg_catalog.array_to_string(a.attoptions, ', ')) END), \
               ad.tableoid, ad.oid, \
               CASE WHEN a.attgenerated = '' AND ad.adbin IS NOT NULL THEN \
                 pg_catalog.format('%I SET DEFAULT %s', a.attname, pg_catalog.pg_get_expr(ad.adbin, ad.adrelid)) END, \
               idseq.classid, idseq.objid, pg_catalog.quote_ident(a.attname) \
             FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_type t ON t.oid = a.atttypid \
             LEFT JOIN pg_catalog.pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum \
             LEFT JOIN pg_catalog.pg_collation co ON co.oid = a.attcollation \
             LEFT JOIN pg_catalog.pg_namespace cn ON cn.oid = co.collnamespace \
             LEFT JOIN pg_catalog.pg_depend idseq ON a.attidentity <> '' \
                  AND idseq.classid = 'pg_catalog.pg_class'::pg_catalog.regclass \
                  AND idseq.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass \
                  AND idseq.refobjid = a.attrelid AND idseq.refobjsubid = a.attnum AND idseq.deptype = 'i' \
             WHERE a.attrelid = ANY($1) AND a.attnum > 0 AND NOT a.attisdropped \
             ORDER BY a.attrelid, a.attnum",
            &[&oids],
        )
        .await
        .map_err(db_err("reading columns"))?;
    let mut columns: HashMap<Oid, Vec<Column>> = HashMap::new();
    for row in rows {
        let not_null: bool = row.get(2);
        let parent_not_null: bool = row.get(4);
        let mut definition: String = row.get(1);
        if not_null {
            definition.push_str(" NOT NULL");
        }
        let follow_ups: String = row.get(5);
        let default = match (
            row.get::<_, Option<Oid>>(6),
            row.get::<_, Option<Oid>>(7),
            row.get::<_, Option<String>>(8),
        ) {
            (Some(class), Some(oid), Some(expr)) => Some(((class, oid), expr)),
            _ => None,
        };
        let identity_sequence = match (row.get::<_, Option<Oid>>(9), row.get::<_, Option<Oid>>(10))
        {
            (Some(class), Some(oid)) => Some((class, oid)),
            _ => None,
        };
        columns.entry(row.get(0)).or_default().push(Column {
            name: row.get(11),
            definition,
            local: row.get(3),
            own_not_null: not_null && !parent_not_null,
            follow_ups: follow_ups.lines().map(str::to_string).collect(),
            default,
            identity_sequence,
        });
    }
    Ok(columns)
}

async fn read_checks(scope: &Scope<'_>, oids: &[Oid]) -> Result<HashMap<Oid, Vec<Check>>> {
    let rows = scope
        .client
        .query(
            "SELECT c.conrelid, c.tableoid, c.oid, \
                    pg_catalog.format('CONSTRAINT %I %s', c.conname, pg_catalog.pg_get_constraintdef(c.oid)), c.conislocal \
               FROM pg_catalog.pg_constraint c \
              WHERE c.conrelid = ANY($1) AND c.contype = 'c' AND c.convalidated ORDER BY c.conname",
            &[&oids],
        )
        .await
        .map_err(db_err("reading check constraints"))?;
    let mut checks: HashMap<Oid, Vec<Check>> = HashMap::new();
    for row in rows {
        checks.entry(row.get(0)).or_default().push(Check {
            reference: (row.get(1), row.get(2)),
            definition: row.get(3),
            local: row.get(4),
        });
    }
    Ok(checks)
}
