//! Post-data behaviour: triggers, rules, row-level security policies, extended statistics,
//! publications; and event triggers, which run last so they do not fire during the restore.
//!
//! Triggers, rules and statistics come whole from the server (`pg_get_triggerdef`,
//! `pg_get_ruledef`, `pg_get_statisticsobjdef`), followed by their enable state. Triggers a
//! partition inherited from its parent are the parent's; only a clone whose enable state
//! differs is written (`ALTER TABLE ONLY partition ... TRIGGER`). Event triggers and
//! publications belong to the database, not a schema: they are dumped only when the whole
//! database is, as pg_dump does without `--schema`.

use tokio_postgres::types::Oid;

use super::{Found, Object, Phase, Ref, Scope, db_err, not_member, priority};
use crate::engine::postgres::{qualified, quote_ident};
use crate::error::Result;

/// The verb that sets a non-default enable state (`tgenabled`, `ev_enabled`, `evtenabled`).
fn enable_verb(state: &str) -> Option<&'static str> {
    match state {
        "D" => Some("DISABLE"),
        "R" => Some("ENABLE REPLICA"),
        "A" => Some("ENABLE ALWAYS"),
        _ => None,
    }
}

/// `ALTER ... {DISABLE | ENABLE REPLICA | ENABLE ALWAYS} <what> name` for a non-default state.
fn enable_state(prefix: &str, state: &str, what: &str, name: &str) -> Option<String> {
    enable_verb(state).map(|verb| format!("{prefix} {verb} {what} {};", quote_ident(name)))
}

/// Relations whose triggers and rules are dumped: the scope's tables, plus views and
/// materialized views of the selected schemas.
fn relation_filter(column: &str) -> String {
    format!(
        "({column} = ANY($1) OR EXISTS (SELECT 1 FROM pg_catalog.pg_class rc \
           JOIN pg_catalog.pg_namespace rn ON rn.oid = rc.relnamespace \
          WHERE rc.oid = {column} AND rc.relkind IN ('v', 'm') AND rn.nspname = ANY($2) AND {}))",
        not_member("pg_class", "rc.oid")
    )
}

pub(super) async fn triggers(scope: &Scope<'_>) -> Result<Found> {
    let oids: Vec<Oid> = scope.tables.keys().copied().collect();
    let sql = format!(
        "SELECT t.tableoid, t.oid, n.nspname, c.relname, t.tgname, pg_catalog.pg_get_triggerdef(t.oid, false), \
                t.tgenabled::text, t.tgparentid \
           FROM pg_catalog.pg_trigger t JOIN pg_catalog.pg_class c ON c.oid = t.tgrelid \
           JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
          WHERE NOT t.tgisinternal AND {} ORDER BY n.nspname, c.relname, t.tgname",
        relation_filter("t.tgrelid")
    );
    let rows = scope
        .client
        .query(&sql, &[&oids, &scope.schemas])
        .await
        .map_err(db_err("reading triggers"))?;
    let mut found = Found::default();
    for row in rows {
        let reference: Ref = (row.get(0), row.get(1));
        let (schema, table, name): (String, String, String) = (row.get(2), row.get(3), row.get(4));
        let ident = qualified(&schema, &table);
        let state: String = row.get(6);
        // Enable states are set with ONLY: without it, a partitioned table's state would
        // recurse into its partitions' clones, whose own states follow.
        let enable = enable_state(&format!("ALTER TABLE ONLY {ident}"), &state, "TRIGGER", &name);
        let parent: Oid = row.get(7);
        if parent != 0 {
            // A clone on a partition: created by its parent's CREATE TRIGGER, enabled; only a
            // different state is written, after the parent (through any intermediate clone).
            let mut clone =
                Object::new(reference, Phase::Post, priority::TRIGGER, Some(&schema), &name);
            clone.statements.extend(enable);
            clone.deps.push((reference.0, parent));
            found.objects.push(clone);
            continue;
        }
        let mut object =
            Object::new(reference, Phase::Post, priority::TRIGGER, Some(&schema), &name)
                .sql(format!("{};", row.get::<_, String>(5)))
                .target("TRIGGER", format!("{} ON {ident}", quote_ident(&name)));
        object.statements.extend(enable);
        found.objects.push(object);
    }
    Ok(found)
}

pub(super) async fn rules(scope: &Scope<'_>) -> Result<Found> {
    let oids: Vec<Oid> = scope.tables.keys().copied().collect();
    let sql = format!(
        "SELECT r.tableoid, r.oid, n.nspname, c.relname, r.rulename, pg_catalog.pg_get_ruledef(r.oid), r.ev_enabled::text, \
                c.relkind::text \
           FROM pg_catalog.pg_rewrite r JOIN pg_catalog.pg_class c ON c.oid = r.ev_class \
           JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
          WHERE r.rulename <> '_RETURN' AND {} ORDER BY n.nspname, c.relname, r.rulename",
        relation_filter("r.ev_class")
    );
    let rows = scope
        .client
        .query(&sql, &[&oids, &scope.schemas])
        .await
        .map_err(db_err("reading rules"))?;
    let mut found = Found::default();
    for row in rows {
        let (schema, table, name): (String, String, String) = (row.get(2), row.get(3), row.get(4));
        let ident = qualified(&schema, &table);
        let keyword = match row.get::<_, String>(7).as_str() {
            "v" => "VIEW",
            "m" => "MATERIALIZED VIEW",
            _ => "TABLE",
        };
        let mut object = Object::new(
            (row.get(0), row.get(1)),
            Phase::Post,
            priority::RULE,
            Some(&schema),
            &name,
        )
        .sql(row.get::<_, String>(5))
        .target("RULE", format!("{} ON {ident}", quote_ident(&name)));
        object.statements.extend(enable_state(
            &format!("ALTER {keyword} {ident}"),
            &row.get::<_, String>(6),
            "RULE",
            &name,
        ));
        found.objects.push(object);
    }
    Ok(found)
}

pub(super) async fn policies(scope: &Scope<'_>) -> Result<Found> {
    let oids: Vec<Oid> = scope.tables.keys().copied().collect();
    let rows = scope
        .client
        .query(
            "SELECT p.tableoid, p.oid, p.polrelid, p.polname, p.polpermissive, \
                    CASE p.polcmd WHEN 'r' THEN 'SELECT' WHEN 'a' THEN 'INSERT' WHEN 'w' THEN 'UPDATE' \
                                  WHEN 'd' THEN 'DELETE' ELSE 'ALL' END, \
                    ARRAY(SELECT CASE WHEN r = 0 THEN 'PUBLIC' ELSE pg_catalog.pg_get_userbyid(r) END \
                            FROM pg_catalog.unnest(p.polroles) r), \
                    pg_catalog.pg_get_expr(p.polqual, p.polrelid), pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid) \
               FROM pg_catalog.pg_policy p WHERE p.polrelid = ANY($1) ORDER BY p.polname",
            &[&oids],
        )
        .await
        .map_err(db_err("reading policies"))?;
    let mut found = Found::default();
    for row in rows {
        let Some((schema, table)) = scope.table(row.get(2)) else { continue };
        let ident = qualified(schema, table);
        let name: String = row.get(3);
        let roles: Vec<String> = row.get(6);
        let mut create = format!(
            "CREATE POLICY {} ON {ident} AS {} FOR {} TO {}",
            quote_ident(&name),
            if row.get::<_, bool>(4) { "PERMISSIVE" } else { "RESTRICTIVE" },
            row.get::<_, String>(5),
            roles
                .iter()
                .map(|r| if r == "PUBLIC" { r.clone() } else { quote_ident(r) })
                .collect::<Vec<_>>()
                .join(", ")
        );
        if let Some(using) = row.get::<_, Option<String>>(7) {
            create.push_str(&format!(" USING ({using})"));
        }
        if let Some(check) = row.get::<_, Option<String>>(8) {
            create.push_str(&format!(" WITH CHECK ({check})"));
        }
        let mut object = Object::new(
            (row.get(0), row.get(1)),
            Phase::Post,
            priority::POLICY,
            Some(schema),
            &name,
        )
        .sql(format!("{create};"))
        .target("POLICY", format!("{} ON {ident}", quote_ident(&name)));
        object.roles = roles.into_iter().filter(|r| r != "PUBLIC").collect();
        found.objects.push(object);
    }
    Ok(found)
}

pub(super) async fn statistics(scope: &Scope<'_>) -> Result<Found> {
    let oids: Vec<Oid> = scope.tables.keys().copied().collect();
    let sql = format!(
        "SELECT s.tableoid, s.oid, n.nspname, s.stxname, pg_catalog.pg_get_userbyid(s.stxowner), \
                    pg_catalog.pg_get_statisticsobjdef(s.oid), \
                    CASE WHEN s.stxstattarget >= 0 THEN pg_catalog.format('ALTER STATISTICS %I.%I SET STATISTICS %s;', \
                      n.nspname, s.stxname, s.stxstattarget) END \
               FROM pg_catalog.pg_statistic_ext s JOIN pg_catalog.pg_namespace n ON n.oid = s.stxnamespace \
              WHERE {} ORDER BY n.nspname, s.stxname",
        relation_filter("s.stxrelid")
    );
    let rows = scope
        .client
        .query(&sql, &[&oids, &scope.schemas])
        .await
        .map_err(db_err("reading extended statistics"))?;
    let mut found = Found::default();
    for row in rows {
        let (schema, name): (String, String) = (row.get(2), row.get(3));
        let mut object = Object::new(
            (row.get(0), row.get(1)),
            Phase::Post,
            priority::STATISTICS,
            Some(&schema),
            &name,
        )
        .sql(format!("{};", row.get::<_, String>(5)))
        .target("STATISTICS", qualified(&schema, &name))
        .owned_by(row.get(4));
        object.statements.extend(row.get::<_, Option<String>>(6));
        found.objects.push(object);
    }
    Ok(found)
}

pub(super) async fn event_triggers(scope: &Scope<'_>) -> Result<Found> {
    let sql = format!(
        "SELECT e.tableoid, e.oid, e.evtname, e.evtevent, pg_catalog.pg_get_userbyid(e.evtowner), \
                e.evtfoid::pg_catalog.regproc::pg_catalog.text, \
                (SELECT pg_catalog.string_agg(pg_catalog.quote_literal(t), ', ') FROM pg_catalog.unnest(e.evttags) t), \
                e.evtenabled::text, \
                (SELECT n.nspname FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace \
                  WHERE p.oid = e.evtfoid) \
           FROM pg_catalog.pg_event_trigger e WHERE {} ORDER BY e.evtname",
        not_member("pg_event_trigger", "e.oid")
    );
    let rows = scope.client.query(&sql, &[]).await.map_err(db_err("reading event triggers"))?;
    let mut found = Found::default();
    for row in rows {
        let name: String = row.get(2);
        let ident = quote_ident(&name);
        let tags = row
            .get::<_, Option<String>>(6)
            .map(|t| format!("\n  WHEN TAG IN ({t})"))
            .unwrap_or_default();
        // Tagged with its function's schema: a restore of other schemas has no function to run.
        let schema: Option<String> = row.get(8);
        let mut object = Object::new(
            (row.get(0), row.get(1)),
            Phase::Last,
            priority::EVENT_TRIGGER,
            schema.as_deref(),
            &name,
        )
        .sql(format!(
            "CREATE EVENT TRIGGER {ident} ON {}{tags}\n  EXECUTE FUNCTION {}();",
            quote_ident(&row.get::<_, String>(3)),
            row.get::<_, String>(5)
        ))
        .target("EVENT TRIGGER", ident.clone())
        .owned_by(row.get(4));
        if let Some(verb) = enable_verb(&row.get::<_, String>(7)) {
            object.statements.push(format!("ALTER EVENT TRIGGER {ident} {verb};"));
        }
        found.objects.push(object);
    }
    Ok(found)
}

pub(super) async fn publications(scope: &Scope<'_>) -> Result<Found> {
    let client = scope.client;
    let rows = client
        .query(
            "SELECT p.tableoid, p.oid, p.pubname, pg_catalog.pg_get_userbyid(p.pubowner), p.puballtables, \
                    pg_catalog.concat_ws(', ', CASE WHEN p.pubinsert THEN 'insert' END, CASE WHEN p.pubupdate THEN 'update' END, \
                      CASE WHEN p.pubdelete THEN 'delete' END, CASE WHEN p.pubtruncate THEN 'truncate' END), \
                    p.pubviaroot \
               FROM pg_catalog.pg_publication p ORDER BY p.pubname",
            &[],
        )
        .await
        .map_err(db_err("reading publications"))?;
    let mut found = Found::default();
    for row in rows {
        let name: String = row.get(2);
        let ident = quote_ident(&name);
        found.objects.push(
            Object::new((row.get(0), row.get(1)), Phase::Post, priority::PUBLICATION, None, &name)
                .sql(format!(
                    "CREATE PUBLICATION {ident}{} WITH (publish = '{}', publish_via_partition_root = {});",
                    if row.get::<_, bool>(4) { " FOR ALL TABLES" } else { "" },
                    row.get::<_, String>(5),
                    row.get::<_, bool>(6)
                ))
                .target("PUBLICATION", ident)
                .owned_by(row.get(3)),
        );
    }
    let oids: Vec<Oid> = scope.tables.keys().copied().collect();
    let rows = client
        .query(
            "SELECT r.tableoid, r.oid, p.tableoid, p.oid, p.pubname, r.prrelid, \
                    (SELECT pg_catalog.string_agg(pg_catalog.quote_ident(a.attname), ', ' ORDER BY a.attnum) \
                       FROM pg_catalog.pg_attribute a WHERE a.attrelid = r.prrelid AND a.attnum = ANY(r.prattrs)), \
                    pg_catalog.pg_get_expr(r.prqual, r.prrelid) \
               FROM pg_catalog.pg_publication_rel r JOIN pg_catalog.pg_publication p ON p.oid = r.prpubid \
              WHERE r.prrelid = ANY($1) ORDER BY p.pubname",
            &[&oids],
        )
        .await
        .map_err(db_err("reading publication tables"))?;
    for row in rows {
        let Some((schema, table)) = scope.table(row.get(5)) else { continue };
        let name: String = row.get(4);
        let columns =
            row.get::<_, Option<String>>(6).map(|c| format!(" ({c})")).unwrap_or_default();
        let filter =
            row.get::<_, Option<String>>(7).map(|w| format!(" WHERE ({w})")).unwrap_or_default();
        let mut object = Object::new(
            (row.get(0), row.get(1)),
            Phase::Post,
            priority::PUBLICATION_REL,
            Some(schema),
            &name,
        )
        .sql(format!(
            "ALTER PUBLICATION {} ADD TABLE ONLY {}{columns}{filter};",
            quote_ident(&name),
            qualified(schema, table)
        ));
        object.deps.push((row.get(2), row.get(3)));
        found.objects.push(object);
    }
    let rows = client
        .query(
            "SELECT s.tableoid, s.oid, p.tableoid, p.oid, p.pubname, n.nspname \
               FROM pg_catalog.pg_publication_namespace s JOIN pg_catalog.pg_publication p ON p.oid = s.pnpubid \
               JOIN pg_catalog.pg_namespace n ON n.oid = s.pnnspid WHERE n.nspname = ANY($1) ORDER BY p.pubname",
            &[&scope.schemas],
        )
        .await
        .map_err(db_err("reading publication schemas"))?;
    for row in rows {
        let (name, schema): (String, String) = (row.get(4), row.get(5));
        let mut object = Object::new(
            (row.get(0), row.get(1)),
            Phase::Post,
            priority::PUBLICATION_REL,
            Some(&schema),
            &name,
        )
        .sql(format!(
            "ALTER PUBLICATION {} ADD TABLES IN SCHEMA {};",
            quote_ident(&name),
            quote_ident(&schema)
        ));
        object.deps.push((row.get(2), row.get(3)));
        found.objects.push(object);
    }
    Ok(found)
}
