//! Functions, procedures, aggregates, operators and casts.
//!
//! Functions and procedures come whole from `pg_get_functiondef` (it writes `CREATE OR
//! REPLACE`, SET options, SECURITY DEFINER, PARALLEL and SQL-standard bodies); restore runs
//! with `check_function_bodies = off`, as pg_restore does. Aggregates (which
//! `pg_get_functiondef` refuses), operators and casts are built from their catalog rows;
//! function names come out of `regproc`/`regprocedure`, schema-qualified under the dump
//! session's empty `search_path`.

use super::{Found, Object, Phase, Scope, db_err, not_member, priority};
use crate::engine::postgres::{qualified, quote_ident, quote_literal};
use crate::error::Result;

pub(super) async fn functions(scope: &Scope<'_>) -> Result<Found> {
    let sql = format!(
        "SELECT p.tableoid, p.oid, n.nspname, p.proname, pg_catalog.pg_get_userbyid(p.proowner), \
                pg_catalog.pg_get_functiondef(p.oid), pg_catalog.pg_get_function_identity_arguments(p.oid), \
                p.prokind = 'p' \
           FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace \
          WHERE p.prokind IN ('f', 'p', 'w') AND n.nspname = ANY($1) AND {} \
            AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.classid = p.tableoid \
                            AND d.objid = p.oid AND d.deptype = 'i') \
          ORDER BY n.nspname, p.proname, 7",
        not_member("pg_proc", "p.oid")
    );
    let rows =
        scope.client.query(&sql, &[&scope.schemas]).await.map_err(db_err("reading functions"))?;
    let mut found = Found::default();
    for row in rows {
        let (schema, name): (String, String) = (row.get(2), row.get(3));
        let definition: String = row.get(5);
        let arguments: String = row.get(6);
        let keyword = if row.get::<_, bool>(7) { "PROCEDURE" } else { "FUNCTION" };
        found.objects.push(
            Object::new(
                (row.get(0), row.get(1)),
                Phase::Pre,
                priority::FUNCTION,
                Some(&schema),
                &name,
            )
            .sql(format!("{};", definition.trim_end()))
            .target(keyword, format!("{}({arguments})", qualified(&schema, &name)))
            .owned_by(row.get(4)),
        );
    }
    Ok(found)
}

pub(super) async fn aggregates(scope: &Scope<'_>) -> Result<Found> {
    let proc =
        |column: &str| format!("CASE WHEN a.{column} <> 0 THEN a.{column}::pg_catalog.text END");
    let sql = format!(
        "SELECT p.tableoid, p.oid, n.nspname, p.proname, pg_catalog.pg_get_userbyid(p.proowner), \
                pg_catalog.pg_get_function_arguments(p.oid), pg_catalog.pg_get_function_identity_arguments(p.oid), \
                a.aggkind::text, a.aggtransfn::pg_catalog.text, pg_catalog.format_type(a.aggtranstype, NULL), a.aggtransspace, \
                {final}, a.aggfinalextra, a.aggfinalmodify::text, a.agginitval, {combine}, {serial}, {deserial}, \
                {mtrans}, {minv}, CASE WHEN a.aggmtranstype <> 0 THEN pg_catalog.format_type(a.aggmtranstype, NULL) END, \
                a.aggmtransspace, {mfinal}, a.aggmfinalextra, a.aggmfinalmodify::text, a.aggminitval, \
                (SELECT pg_catalog.format('OPERATOR(%I.%s)', opn.nspname, o.oprname) FROM pg_catalog.pg_operator o \
                   JOIN pg_catalog.pg_namespace opn ON opn.oid = o.oprnamespace WHERE o.oid = a.aggsortop), \
                p.proparallel::text, p.oid::pg_catalog.regprocedure::pg_catalog.text \
           FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_aggregate a ON a.aggfnoid = p.oid \
           JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace \
          WHERE n.nspname = ANY($1) AND {member} ORDER BY n.nspname, p.proname, 7",
        final = proc("aggfinalfn"),
        combine = proc("aggcombinefn"),
        serial = proc("aggserialfn"),
        deserial = proc("aggdeserialfn"),
        mtrans = proc("aggmtransfn"),
        minv = proc("aggminvtransfn"),
        mfinal = proc("aggmfinalfn"),
        member = not_member("pg_proc", "p.oid"),
    );
    let rows =
        scope.client.query(&sql, &[&scope.schemas]).await.map_err(db_err("reading aggregates"))?;
    let modify = |m: &str| match m {
        "s" => "SHAREABLE",
        "w" => "READ_WRITE",
        _ => "READ_ONLY",
    };
    let mut found = Found::default();
    for row in rows {
        let (schema, name): (String, String) = (row.get(2), row.get(3));
        let ident = qualified(&schema, &name);
        let star = |args: String| if args.is_empty() { "*".to_string() } else { args };
        let arguments = star(row.get(5));
        let identity = star(row.get(6));
        let mut options = vec![
            format!("SFUNC = {}", row.get::<_, String>(8)),
            format!("STYPE = {}", row.get::<_, String>(9)),
        ];
        let space: i32 = row.get(10);
        if space != 0 {
            options.push(format!("SSPACE = {space}"));
        }
        if let Some(f) = row.get::<_, Option<String>>(11) {
            options.push(format!("FINALFUNC = {f}"));
            if row.get::<_, bool>(12) {
                options.push("FINALFUNC_EXTRA".into());
            }
        }
        options.push(format!("FINALFUNC_MODIFY = {}", modify(&row.get::<_, String>(13))));
        if let Some(init) = row.get::<_, Option<String>>(14) {
            options.push(format!("INITCOND = {}", quote_literal(&init)));
        }
        for (i, key) in [(15, "COMBINEFUNC"), (16, "SERIALFUNC"), (17, "DESERIALFUNC")] {
            if let Some(f) = row.get::<_, Option<String>>(i) {
                options.push(format!("{key} = {f}"));
            }
        }
        if let Some(msfunc) = row.get::<_, Option<String>>(18) {
            options.push(format!("MSFUNC = {msfunc}"));
            if let Some(f) = row.get::<_, Option<String>>(19) {
                options.push(format!("MINVFUNC = {f}"));
            }
            if let Some(t) = row.get::<_, Option<String>>(20) {
                options.push(format!("MSTYPE = {t}"));
            }
            let mspace: i32 = row.get(21);
            if mspace != 0 {
                options.push(format!("MSSPACE = {mspace}"));
            }
            if let Some(f) = row.get::<_, Option<String>>(22) {
                options.push(format!("MFINALFUNC = {f}"));
                if row.get::<_, bool>(23) {
                    options.push("MFINALFUNC_EXTRA".into());
                }
            }
            options.push(format!("MFINALFUNC_MODIFY = {}", modify(&row.get::<_, String>(24))));
            if let Some(init) = row.get::<_, Option<String>>(25) {
                options.push(format!("MINITCOND = {}", quote_literal(&init)));
            }
        }
        if let Some(op) = row.get::<_, Option<String>>(26) {
            options.push(format!("SORTOP = {op}"));
        }
        match row.get::<_, String>(27).as_str() {
            "s" => options.push("PARALLEL = SAFE".into()),
            "r" => options.push("PARALLEL = RESTRICTED".into()),
            _ => {}
        }
        if row.get::<_, String>(7) == "h" {
            options.push("HYPOTHETICAL".into());
        }
        let mut aggregate = Object::new(
            (row.get(0), row.get(1)),
            Phase::Pre,
            priority::AGGREGATE,
            Some(&schema),
            &name,
        )
        .sql(format!(
            "CREATE AGGREGATE {ident}({arguments}) (\n    {}\n);",
            options.join(",\n    ")
        ))
        .target("AGGREGATE", format!("{ident}({identity})"))
        .owned_by(row.get(4));
        if let Some(target) = aggregate.target.as_mut() {
            // GRANT ... ON FUNCTION takes the plain argument types (`regprocedure`).
            target.grant_identity = Some(row.get(28));
        }
        found.objects.push(aggregate);
    }
    Ok(found)
}

pub(super) async fn operators(scope: &Scope<'_>) -> Result<Found> {
    let operator = |column: &str| {
        format!(
            "(SELECT pg_catalog.format('OPERATOR(%I.%s)', xn.nspname, x.oprname) FROM pg_catalog.pg_operator x \
               JOIN pg_catalog.pg_namespace xn ON xn.oid = x.oprnamespace WHERE x.oid = o.{column})"
        )
    };
    let sql = format!(
        "SELECT o.tableoid, o.oid, n.nspname, o.oprname, pg_catalog.pg_get_userbyid(o.oprowner), o.oprcode::pg_catalog.text, \
                CASE WHEN o.oprleft <> 0 THEN pg_catalog.format_type(o.oprleft, NULL) END, \
                CASE WHEN o.oprright <> 0 THEN pg_catalog.format_type(o.oprright, NULL) END, \
                {commutator}, {negator}, \
                CASE WHEN o.oprrest <> 0 THEN o.oprrest::pg_catalog.text END, \
                CASE WHEN o.oprjoin <> 0 THEN o.oprjoin::pg_catalog.text END, o.oprcanhash, o.oprcanmerge, o.oprcode <> 0 \
           FROM pg_catalog.pg_operator o JOIN pg_catalog.pg_namespace n ON n.oid = o.oprnamespace \
          WHERE n.nspname = ANY($1) AND {member} ORDER BY n.nspname, o.oprname, 7, 8",
        commutator = operator("oprcom"),
        negator = operator("oprnegate"),
        member = not_member("pg_operator", "o.oid"),
    );
    let rows =
        scope.client.query(&sql, &[&scope.schemas]).await.map_err(db_err("reading operators"))?;
    let mut found = Found::default();
    for row in rows {
        if !row.get::<_, bool>(14) {
            // A shell made by a commutator reference: the referencing operator recreates it.
            found.ignored.push((row.get(0), row.get(1)));
            continue;
        }
        let (schema, name): (String, String) = (row.get(2), row.get(3));
        let ident = format!("{}.{name}", quote_ident(&schema));
        let (left, right): (Option<String>, Option<String>) = (row.get(6), row.get(7));
        let mut options = vec![format!("FUNCTION = {}", row.get::<_, String>(5))];
        if let Some(l) = &left {
            options.push(format!("LEFTARG = {l}"));
        }
        if let Some(r) = &right {
            options.push(format!("RIGHTARG = {r}"));
        }
        for (i, key) in [(8, "COMMUTATOR"), (9, "NEGATOR"), (10, "RESTRICT"), (11, "JOIN")] {
            if let Some(v) = row.get::<_, Option<String>>(i) {
                options.push(format!("{key} = {v}"));
            }
        }
        if row.get::<_, bool>(12) {
            options.push("HASHES".into());
        }
        if row.get::<_, bool>(13) {
            options.push("MERGES".into());
        }
        let args = format!(
            "({}, {})",
            left.as_deref().unwrap_or("NONE"),
            right.as_deref().unwrap_or("NONE")
        );
        found.objects.push(
            Object::new(
                (row.get(0), row.get(1)),
                Phase::Pre,
                priority::OPERATOR,
                Some(&schema),
                &name,
            )
            .sql(format!("CREATE OPERATOR {ident} (\n    {}\n);", options.join(",\n    ")))
            .target("OPERATOR", format!("{ident} {args}"))
            .owned_by(row.get(4)),
        );
    }
    Ok(found)
}

/// User casts whose source type, target type or function is in a selected schema.
pub(super) async fn casts(scope: &Scope<'_>) -> Result<Found> {
    let sql = format!(
        "SELECT c.tableoid, c.oid, pg_catalog.format_type(c.castsource, NULL), pg_catalog.format_type(c.casttarget, NULL), \
                c.castmethod::text, c.castcontext::text, \
                CASE WHEN c.castfunc <> 0 THEN c.castfunc::pg_catalog.regprocedure::pg_catalog.text END, \
                (SELECT n.nspname FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace \
                  WHERE t.oid IN (c.castsource, c.casttarget) AND n.nspname = ANY($1) LIMIT 1), \
                (SELECT n.nspname FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace \
                  WHERE p.oid = c.castfunc AND n.nspname = ANY($1)) \
           FROM pg_catalog.pg_cast c \
          WHERE c.oid >= 16384 AND {member} \
            AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_range r WHERE c.castsource IN (r.rngtypid, r.rngmultitypid) \
                            OR c.casttarget IN (r.rngtypid, r.rngmultitypid)) \
          ORDER BY 3, 4",
        member = not_member("pg_cast", "c.oid"),
    );
    let rows =
        scope.client.query(&sql, &[&scope.schemas]).await.map_err(db_err("reading casts"))?;
    let mut found = Found::default();
    for row in rows {
        let Some(schema) = row.get::<_, Option<String>>(7).or(row.get(8)) else { continue };
        let (source, target): (String, String) = (row.get(2), row.get(3));
        let method = match (row.get::<_, String>(4).as_str(), row.get::<_, Option<String>>(6)) {
            ("f", Some(function)) => format!("WITH FUNCTION {function}"),
            ("i", _) => "WITH INOUT".to_string(),
            _ => "WITHOUT FUNCTION".to_string(),
        };
        let context = match row.get::<_, String>(5).as_str() {
            "a" => " AS ASSIGNMENT",
            "i" => " AS IMPLICIT",
            _ => "",
        };
        let identity = format!("({source} AS {target})");
        found.objects.push(
            Object::new(
                (row.get(0), row.get(1)),
                Phase::Pre,
                priority::CAST,
                Some(&schema),
                &identity,
            )
            .sql(format!("CREATE CAST {identity} {method}{context};"))
            .target("CAST", identity.clone()),
        );
    }
    Ok(found)
}
