//! Views and materialized views, from `pg_get_viewdef`.
//!
//! `check_option` lives in a view's reloptions but is written as a `WITH ... CHECK OPTION`
//! clause; the other options stay in `WITH (...)`. View column defaults are separate `ALTER
//! VIEW ... SET DEFAULT` objects. A view in a dependency cycle is first created as a
//! placeholder with its columns' names and types, then replaced. A materialized view is created `WITH NO DATA`; if it was
//! populated, a `REFRESH` runs after everything else (privileges included), in dependency
//! order between materialized views, as pg_restore does.

use super::{Found, Object, Phase, Ref, Scope, db_err, not_member, priority};
use crate::engine::postgres::qualified;
use crate::error::Result;

pub(super) async fn views(scope: &Scope<'_>) -> Result<Found> {
    let sql = format!(
        "SELECT c.tableoid, c.oid, n.nspname, c.relname, c.relkind::text, pg_catalog.pg_get_userbyid(c.relowner), \
                pg_catalog.pg_get_viewdef(c.oid), \
                pg_catalog.array_to_string(ARRAY(SELECT o FROM pg_catalog.unnest(c.reloptions) o \
                                                  WHERE o !~ '^check_option='), ', '), \
                (SELECT pg_catalog.upper(pg_catalog.regexp_replace(o, '^check_option=', '')) \
                   FROM pg_catalog.unnest(c.reloptions) o WHERE o ~ '^check_option='), \
                c.relispopulated, \
                (SELECT am.amname FROM pg_catalog.pg_am am WHERE am.oid = c.relam AND am.amname <> 'heap'), \
                'pg_catalog.pg_type'::pg_catalog.regclass::oid, c.reltype, \
                (SELECT t.typarray FROM pg_catalog.pg_type t WHERE t.oid = c.reltype), \
                r.tableoid, r.oid, \
                (SELECT pg_catalog.string_agg(pg_catalog.format('NULL::%s%s AS %I', \
                          pg_catalog.format_type(a.atttypid, a.atttypmod), \
                          CASE WHEN a.attcollation <> t.typcollation AND a.attcollation <> 0 THEN \
                            (SELECT pg_catalog.format(' COLLATE %I.%I', con.nspname, co.collname) \
                               FROM pg_catalog.pg_collation co JOIN pg_catalog.pg_namespace con ON con.oid = co.collnamespace \
                              WHERE co.oid = a.attcollation) ELSE '' END, a.attname), ', ' ORDER BY a.attnum) \
                   FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_type t ON t.oid = a.atttypid \
                  WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped) \
           FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
           LEFT JOIN pg_catalog.pg_rewrite r ON r.ev_class = c.oid AND r.rulename = '_RETURN' \
          WHERE c.relkind IN ('v', 'm') AND n.nspname = ANY($1) AND {} \
          ORDER BY n.nspname, c.relname",
        not_member("pg_class", "c.oid")
    );
    let rows =
        scope.client.query(&sql, &[&scope.schemas]).await.map_err(db_err("reading views"))?;
    let mut found = Found::default();
    // Materialized views' indexes in `found.objects`, by OID: their column options follow.
    let mut materialized_views = Vec::new();
    for row in rows {
        let reference: Ref = (row.get(0), row.get(1));
        let (schema, name, kind): (String, String, String) = (row.get(2), row.get(3), row.get(4));
        let ident = qualified(&schema, &name);
        let definition: String = row.get(6);
        let definition = definition.trim().trim_end_matches(';');
        let options: String = row.get(7);
        let with = if options.is_empty() { String::new() } else { format!(" WITH ({options})") };
        let materialized = kind == "m";
        let mut object = Object::new(reference, Phase::Pre, priority::TABLE, Some(&schema), &name)
            .owned_by(row.get(5));
        object.refs.push((row.get(11), row.get(12)));
        if let Some(array) = row.get::<_, Option<u32>>(13) {
            object.refs.push((row.get(11), array));
        }
        if let (Some(class), Some(rule)) =
            (row.get::<_, Option<u32>>(14), row.get::<_, Option<u32>>(15))
        {
            object.refs.push((class, rule));
        }
        if materialized {
            let using = row
                .get::<_, Option<String>>(10)
                .map(|am| format!(" USING {}", crate::engine::postgres::quote_ident(&am)))
                .unwrap_or_default();
            object = object
                .sql(format!("CREATE MATERIALIZED VIEW {ident}{using}{with} AS\n{definition}\n  WITH NO DATA;"))
                .target("MATERIALIZED VIEW", ident.clone());
            if row.get::<_, bool>(9) {
                let mut refresh =
                    Object::unnamed(Phase::Last, priority::REFRESH_MATVIEW, Some(&schema), &name)
                        .sql(format!("REFRESH MATERIALIZED VIEW {ident};"));
                refresh.deps.push(reference);
                found.objects.push(refresh);
            }
        } else {
            let check = row
                .get::<_, Option<String>>(8)
                .map(|c| format!("\n  WITH {c} CHECK OPTION"))
                .unwrap_or_default();
            object = object
                .sql(format!("CREATE VIEW {ident}{with} AS\n{definition}{check};"))
                .target("VIEW", ident.clone());
            // If the view is in a dependency cycle, this stands in for it until the rest of
            // the cycle exists (pg_dump's dummy view); the definition then replaces it.
            let columns: Option<String> = row.get(16);
            object.placeholder =
                Some(format!("CREATE VIEW {ident} AS\n SELECT {};", columns.unwrap_or_default()));
        }
        if materialized {
            materialized_views.push((reference.1, found.objects.len()));
        }
        found.objects.push(object);
    }
    let oids: Vec<u32> = materialized_views.iter().map(|(oid, _)| *oid).collect();
    let mut follow_ups = super::relations::column_follow_ups(scope, &oids).await?;
    for (oid, index) in materialized_views {
        if let Some(object) = found.objects.get_mut(index) {
            object.statements.extend(follow_ups.remove(&oid).unwrap_or_default());
        }
    }
    found.extend(view_defaults(scope).await?);
    Ok(found)
}

/// Column defaults of views (used by INSERTs through the view).
async fn view_defaults(scope: &Scope<'_>) -> Result<Found> {
    let sql = format!(
        "SELECT ad.tableoid, ad.oid, n.nspname, c.relname, c.tableoid, c.oid, \
                pg_catalog.format('ALTER VIEW %I.%I ALTER COLUMN %I SET DEFAULT %s;', n.nspname, c.relname, a.attname, \
                  pg_catalog.pg_get_expr(ad.adbin, ad.adrelid)) \
           FROM pg_catalog.pg_attrdef ad JOIN pg_catalog.pg_class c ON c.oid = ad.adrelid \
           JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
           JOIN pg_catalog.pg_attribute a ON a.attrelid = ad.adrelid AND a.attnum = ad.adnum \
          WHERE c.relkind = 'v' AND n.nspname = ANY($1) AND {}",
        not_member("pg_class", "c.oid")
    );
    let rows = scope
        .client
        .query(&sql, &[&scope.schemas])
        .await
        .map_err(db_err("reading view defaults"))?;
    let mut found = Found::default();
    for row in rows {
        let (schema, name): (String, String) = (row.get(2), row.get(3));
        let mut default = Object::new(
            (row.get(0), row.get(1)),
            Phase::Pre,
            priority::ATTRDEF,
            Some(&schema),
            &name,
        )
        .sql(row.get::<_, String>(6));
        default.deps.push((row.get(4), row.get(5)));
        found.objects.push(default);
    }
    Ok(found)
}
