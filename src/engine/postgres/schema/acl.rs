//! Owners, comments and privileges of the dumped objects, and default privileges.
//!
//! Each is read once for the whole database and attached to the object its catalog row
//! belongs to. Privileges are rebuilt, not diffed: `REVOKE ALL` from PUBLIC and the owner, then
//! one `GRANT` per grantee, grantor and grant option, in the order of the source's ACL, so the
//! restored ACL is the same array (pg_dump reads it back the same way). A grant made by
//! someone other than the owner is replayed under `SET SESSION AUTHORIZATION` of its grantor.

use std::collections::{BTreeSet, HashMap};

use super::{Object, Ref, Scope, db_err};
use crate::engine::postgres::quote_ident;
use crate::error::Result;

/// What `decorate` found beyond the objects.
pub(super) struct Extra {
    /// Privilege statements that belong to no dumped object, with their schema (none: every
    /// restore runs them): changes to the privileges of system objects and extension members,
    /// then `ALTER DEFAULT PRIVILEGES`.
    pub default_privileges: Vec<(Option<String>, String)>,
    pub roles: Roles,
}

/// The roles the scripts name, by what names them (a restore that leaves out owners or
/// privileges does not need theirs).
#[derive(Debug, Default)]
pub(in crate::engine::postgres) struct Roles {
    /// Named by statements every restore runs (policies' `TO`).
    pub always: Vec<String>,
    /// Named by `ALTER ... OWNER TO`.
    pub owners: Vec<String>,
    /// Named by GRANT, REVOKE and default privileges.
    pub privileges: Vec<String>,
}

/// The keyword of `GRANT ... ON <keyword>` for an object's target keyword.
fn grant_keyword(keyword: &str) -> Option<&'static str> {
    Some(match keyword {
        "TABLE" | "VIEW" | "MATERIALIZED VIEW" | "FOREIGN TABLE" => "TABLE",
        "SEQUENCE" => "SEQUENCE",
        "FUNCTION" | "AGGREGATE" => "FUNCTION",
        "PROCEDURE" => "PROCEDURE",
        "TYPE" => "TYPE",
        "DOMAIN" => "DOMAIN",
        "SCHEMA" => "SCHEMA",
        _ => return None,
    })
}

fn role_ident(role: &str) -> String {
    if role == "PUBLIC" { role.to_string() } else { quote_ident(role) }
}

pub(super) async fn decorate(scope: &Scope<'_>, objects: &mut [Object]) -> Result<Extra> {
    let mut by_ref: HashMap<Ref, usize> = HashMap::new();
    for (i, object) in objects.iter().enumerate() {
        for r in &object.refs {
            by_ref.entry(*r).or_insert(i);
        }
    }
    let (mut always, mut owners, mut privileges) =
        (BTreeSet::new(), BTreeSet::new(), BTreeSet::new());
    for object in objects.iter_mut() {
        always.extend(object.roles.iter().cloned());
        if let (Some(target), Some(owner)) = (&object.target, &object.owner) {
            object.owner_sql = Some(format!(
                "ALTER {} {} OWNER TO {};",
                target.keyword,
                target.identity,
                quote_ident(owner)
            ));
            owners.insert(owner.clone());
        }
    }
    comments(scope, objects, &by_ref).await?;
    grants(scope, objects, &by_ref, &mut privileges).await?;
    let mut default_privileges = initial_privilege_changes(scope, &mut privileges).await?;
    default_privileges.extend(default_privileges_of(scope, &mut privileges).await?);
    let roles = Roles {
        always: always.into_iter().collect(),
        owners: owners.into_iter().collect(),
        privileges: privileges.into_iter().collect(),
    };
    Ok(Extra { default_privileges, roles })
}

async fn comments(
    scope: &Scope<'_>,
    objects: &mut [Object],
    by_ref: &HashMap<Ref, usize>,
) -> Result<()> {
    let rows = scope
        .client
        .query(
            "SELECT d.classoid, d.objoid, d.description, \
                    CASE WHEN d.objsubid > 0 THEN \
                           (SELECT pg_catalog.format('COLUMN %s.%I', d.objoid::pg_catalog.regclass, a.attname) \
                              FROM pg_catalog.pg_attribute a WHERE a.attrelid = d.objoid AND a.attnum = d.objsubid) \
                         WHEN d.classoid = 'pg_catalog.pg_constraint'::pg_catalog.regclass THEN \
                           (SELECT CASE WHEN c.contypid <> 0 \
                                   THEN pg_catalog.format('CONSTRAINT %I ON DOMAIN %s', c.conname, c.contypid::pg_catalog.regtype) \
                                   ELSE pg_catalog.format('CONSTRAINT %I ON %s', c.conname, c.conrelid::pg_catalog.regclass) END \
                              FROM pg_catalog.pg_constraint c WHERE c.oid = d.objoid) \
                         WHEN d.classoid = 'pg_catalog.pg_class'::pg_catalog.regclass THEN \
                           (SELECT CASE WHEN i.relkind = 'S' THEN 'SEQUENCE ' ELSE 'INDEX ' END \
                                   || d.objoid::pg_catalog.regclass::pg_catalog.text FROM pg_catalog.pg_class i \
                             WHERE i.oid = d.objoid AND i.relkind IN ('i', 'I', 'S')) \
                    END \
               FROM pg_catalog.pg_description d \
              WHERE d.objoid >= 16384 OR d.classoid = 'pg_catalog.pg_namespace'::pg_catalog.regclass \
              ORDER BY d.classoid, d.objoid, d.objsubid",
            &[],
        )
        .await
        .map_err(db_err("reading comments"))?;
    for row in rows {
        let reference: Ref = (row.get(0), row.get(1));
        let Some(&i) = by_ref.get(&reference) else { continue };
        let object = &mut objects[i];
        let target = match row.get::<_, Option<String>>(3) {
            Some(target) => target,
            None => match &object.target {
                Some(t) if object.refs.first() == Some(&reference) => {
                    format!("{} {}", t.keyword, t.identity)
                }
                _ => continue,
            },
        };
        let text: String = row.get(2);
        object.comments.push(format!(
            "COMMENT ON {target} IS {};",
            crate::engine::postgres::quote_literal(&text)
        ));
    }
    Ok(())
}

/// One row of an exploded ACL.
struct Grant {
    grantor: String,
    grantee: String,
    privilege: String,
    grantable: bool,
}

/// The exploded ACL entry in columns `at..at + 4` of `row` (grantor, grantee, privilege, grant
/// option), if the ACL had one; its roles join `roles`.
fn grant_at(row: &tokio_postgres::Row, at: usize, roles: &mut BTreeSet<String>) -> Option<Grant> {
    let grantor: String = row.get::<_, Option<String>>(at)?;
    let grantee: String = row.get::<_, Option<String>>(at + 1)?;
    let privilege: String = row.get::<_, Option<String>>(at + 2)?;
    roles.insert(grantor.clone());
    if grantee != "PUBLIC" {
        roles.insert(grantee.clone());
    }
    Some(Grant {
        grantor,
        grantee,
        privilege,
        grantable: row.get::<_, Option<bool>>(at + 3) == Some(true),
    })
}

/// The rows of an exploded-ACL query (ordered by object, then ACL position) grouped by the key
/// `head` gives each row, with the head of each group's first row and the grants of its rows
/// (columns `at..at + 4`). Rows `head` answers `None` for are skipped.
fn group_grants<K: PartialEq, H>(
    rows: &[tokio_postgres::Row],
    at: usize,
    roles: &mut BTreeSet<String>,
    mut head: impl FnMut(&tokio_postgres::Row) -> Option<(K, H)>,
) -> Vec<(H, Vec<Grant>)> {
    let mut groups: Vec<(K, H, Vec<Grant>)> = Vec::new();
    for row in rows {
        let Some((key, value)) = head(row) else { continue };
        if groups.last().is_none_or(|g| g.0 != key) {
            groups.push((key, value, Vec::new()));
        }
        if let Some(grant) = grant_at(row, at, roles)
            && let Some(last) = groups.last_mut()
        {
            last.2.push(grant);
        }
    }
    groups.into_iter().map(|(_, head, grants)| (head, grants)).collect()
}

/// The statements that give `on` (or its `column`) exactly this ACL: for an object, `REVOKE ALL`
/// from PUBLIC and the owner first, then the grants in ACL order, so the restored ACL is the
/// same array; a column's privileges start empty.
fn rebuild_acl(on: &str, column: Option<&str>, owner: &str, grants: &[Grant]) -> Vec<String> {
    let mut out = Vec::new();
    if column.is_none() {
        out.push(format!("REVOKE ALL ON {on} FROM PUBLIC;"));
        out.push(format!("REVOKE ALL ON {on} FROM {};", quote_ident(owner)));
    }
    out.extend(grant_statements(on, column, owner, grants));
    out
}

/// `GRANT` statements for one ACL (in its order), grouping each grantee's privileges.
fn grant_statements(on: &str, column: Option<&str>, owner: &str, grants: &[Grant]) -> Vec<String> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < grants.len() {
        let first = &grants[i];
        let mut privileges = Vec::new();
        while i < grants.len()
            && grants[i].grantee == first.grantee
            && grants[i].grantor == first.grantor
            && grants[i].grantable == first.grantable
        {
            privileges.push(match column {
                Some(c) => format!("{} ({c})", grants[i].privilege),
                None => grants[i].privilege.clone(),
            });
            i += 1;
        }
        let grant = format!(
            "GRANT {} ON {on} TO {}{};",
            privileges.join(", "),
            role_ident(&first.grantee),
            if first.grantable { " WITH GRANT OPTION" } else { "" }
        );
        out.push(if first.grantor == owner {
            grant
        } else {
            format!(
                "SET SESSION AUTHORIZATION {};\n{grant}\nRESET SESSION AUTHORIZATION;",
                quote_ident(&first.grantor)
            )
        });
    }
    out
}

async fn grants(
    scope: &Scope<'_>,
    objects: &mut [Object],
    by_ref: &HashMap<Ref, usize>,
    roles: &mut BTreeSet<String>,
) -> Result<()> {
    let rows = scope
        .client
        .query(
            "SELECT x.cat, x.oid, x.col, pg_catalog.pg_get_userbyid(x.owner), pg_catalog.pg_get_userbyid(e.grantor), \
                    CASE WHEN e.grantee = 0 THEN 'PUBLIC' ELSE pg_catalog.pg_get_userbyid(e.grantee) END, \
                    e.privilege_type, e.is_grantable, x.seq \
               FROM ( \
                 SELECT c.tableoid AS cat, c.oid, 0 AS sub, NULL::text AS col, c.relacl AS acl, c.relowner AS owner, \
                        CASE WHEN c.relkind = 'S' THEN 'SEQUENCE ' || c.oid::pg_catalog.regclass::pg_catalog.text END AS seq \
                   FROM pg_catalog.pg_class c WHERE c.relacl IS NOT NULL AND c.oid >= 16384 \
                 UNION ALL SELECT c.tableoid, a.attrelid, a.attnum, pg_catalog.quote_ident(a.attname), a.attacl, c.relowner, NULL \
                   FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_class c ON c.oid = a.attrelid \
                  WHERE a.attacl IS NOT NULL AND a.attrelid >= 16384 AND NOT a.attisdropped \
                 UNION ALL SELECT p.tableoid, p.oid, 0, NULL, p.proacl, p.proowner, NULL FROM pg_catalog.pg_proc p \
                  WHERE p.proacl IS NOT NULL AND p.oid >= 16384 \
                 UNION ALL SELECT t.tableoid, t.oid, 0, NULL, t.typacl, t.typowner, NULL FROM pg_catalog.pg_type t \
                  WHERE t.typacl IS NOT NULL AND t.oid >= 16384 \
                 UNION ALL SELECT n.tableoid, n.oid, 0, NULL, n.nspacl, n.nspowner, NULL FROM pg_catalog.pg_namespace n \
                  WHERE n.nspacl IS NOT NULL \
               ) x LEFT JOIN LATERAL pg_catalog.aclexplode(x.acl) WITH ORDINALITY \
                   e(grantor, grantee, privilege_type, is_grantable, ord) ON true \
              ORDER BY x.cat, x.oid, x.sub, e.ord",
            &[],
        )
        .await
        .map_err(db_err("reading privileges"))?;
    // Grouped by object and column, keeping the ACL order. The owner comes with each group;
    // `on` is set for a table's identity sequence, whose ACL is the sequence's.
    let acls = group_grants(&rows, 4, roles, |row| {
        let reference: Ref = (row.get(0), row.get(1));
        let &i = by_ref.get(&reference)?;
        let own = objects[i].refs.first() == Some(&reference);
        let on = match row.get::<_, Option<String>>(8) {
            Some(sequence) if !own => Some(sequence),
            _ if !own => return None,
            _ => None,
        };
        let column: Option<String> = row.get(2);
        Some(((i, column.clone(), on.clone()), (i, on, column, row.get::<_, String>(3))))
    });
    for ((object, on, column, owner), list) in acls {
        let object = &mut objects[object];
        let Some(target) = &object.target else { continue };
        let Some(keyword) = grant_keyword(&target.keyword) else { continue };
        let identity = target.grant_identity.as_ref().unwrap_or(&target.identity);
        let on = on.unwrap_or_else(|| format!("{keyword} {identity}"));
        if column.is_none() {
            roles.insert(owner.clone());
        }
        object.grants.extend(rebuild_acl(&on, column.as_deref(), &owner, &list));
    }
    Ok(())
}

async fn default_privileges_of(
    scope: &Scope<'_>,
    roles: &mut BTreeSet<String>,
) -> Result<Vec<(Option<String>, String)>> {
    let rows = scope
        .client
        .query(
            "SELECT d.oid, pg_catalog.pg_get_userbyid(d.defaclrole), n.nspname, \
                    CASE d.defaclobjtype WHEN 'r' THEN 'TABLES' WHEN 'S' THEN 'SEQUENCES' WHEN 'f' THEN 'FUNCTIONS' \
                                         WHEN 'T' THEN 'TYPES' ELSE 'SCHEMAS' END, \
                    pg_catalog.pg_get_userbyid(e.grantor), \
                    CASE WHEN e.grantee = 0 THEN 'PUBLIC' ELSE pg_catalog.pg_get_userbyid(e.grantee) END, \
                    e.privilege_type, e.is_grantable \
               FROM pg_catalog.pg_default_acl d LEFT JOIN pg_catalog.pg_namespace n ON n.oid = d.defaclnamespace \
               LEFT JOIN LATERAL pg_catalog.aclexplode(d.defaclacl) WITH ORDINALITY \
                    e(grantor, grantee, privilege_type, is_grantable, ord) ON true \
              WHERE (d.defaclnamespace = 0 AND $2) OR n.nspname = ANY($1) \
              ORDER BY d.oid, e.ord",
            &[&scope.schemas, &scope.whole_database],
        )
        .await
        .map_err(db_err("reading default privileges"))?;
    // Per `pg_default_acl` row: its role, schema, object kind and grants.
    let entries = group_grants(&rows, 4, roles, |row| {
        let head: (String, Option<String>, String) = (row.get(1), row.get(2), row.get(3));
        Some((row.get::<_, u32>(0), head))
    });
    let mut out = Vec::new();
    for ((role, schema, objects), list) in entries {
        roles.insert(role.clone());
        let prefix = format!(
            "ALTER DEFAULT PRIVILEGES FOR ROLE {}{}",
            quote_ident(&role),
            schema.as_ref().map(|s| format!(" IN SCHEMA {}", quote_ident(s))).unwrap_or_default()
        );
        if schema.is_none() {
            // Global entries replace the built-in defaults.
            out.push((None, format!("{prefix} REVOKE ALL ON {objects} FROM PUBLIC;")));
            out.push((
                None,
                format!("{prefix} REVOKE ALL ON {objects} FROM {};", quote_ident(&role)),
            ));
        }
        // Default privileges have no grantor of their own: every grant is the role's.
        let list: Vec<Grant> =
            list.into_iter().map(|g| Grant { grantor: role.clone(), ..g }).collect();
        for grant in grant_statements(&objects, None, &role, &list) {
            let statement = grant.replacen("GRANT ", &format!("{prefix} GRANT "), 1);
            out.push((schema.clone(), statement));
        }
    }
    Ok(out)
}

/// Objects `CREATE EXTENSION` or initdb made (extension members of the selected schemas, and
/// with the whole database, `pg_catalog` and `information_schema`) whose privileges were changed
/// since (`pg_init_privs`, else the built-in default): their ACL is rebuilt as the source has
/// it, as pg_dump dumps these changes.
async fn initial_privilege_changes(
    scope: &Scope<'_>,
    roles: &mut BTreeSet<String>,
) -> Result<Vec<(Option<String>, String)>> {
    let rows = scope
        .client
        .query(
            // Names are printed only for the rows that pass the filter: printing every
            // catalog type's and function's name first cost 100 ms on an empty database.
            "WITH x AS ( \
               SELECT c.tableoid AS cat, c.oid, 0 AS sub, c.relnamespace AS ns, \
                      CASE c.relkind WHEN 'S' THEN 'SEQUENCE' ELSE 'TABLE' END AS keyword, \
                      NULL::name AS col, c.relowner AS owner, \
                      c.relacl AS acl, pg_catalog.acldefault((CASE c.relkind WHEN 'S' THEN 's' ELSE 'r' END)::\"char\", c.relowner) AS dflt \
                 FROM pg_catalog.pg_class c WHERE c.relkind IN ('r', 'v', 'm', 'S', 'f', 'p') \
               UNION ALL \
               SELECT c.tableoid, c.oid, a.attnum, c.relnamespace, 'TABLE', a.attname, c.relowner, a.attacl, NULL \
                 FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_class c ON c.oid = a.attrelid \
                WHERE a.attnum > 0 AND NOT a.attisdropped \
               UNION ALL \
               SELECT p.tableoid, p.oid, 0, p.pronamespace, CASE p.prokind WHEN 'p' THEN 'PROCEDURE' ELSE 'FUNCTION' END, \
                      NULL, p.proowner, p.proacl, pg_catalog.acldefault('f'::\"char\", p.proowner) \
                 FROM pg_catalog.pg_proc p \
               UNION ALL \
               SELECT t.tableoid, t.oid, 0, t.typnamespace, 'TYPE', NULL, t.typowner, \
                      t.typacl, pg_catalog.acldefault('T'::\"char\", t.typowner) \
                 FROM pg_catalog.pg_type t \
             ) \
             SELECT n.nspname, \
                    x.keyword || ' ' || CASE x.cat \
                      WHEN 'pg_catalog.pg_class'::pg_catalog.regclass THEN x.oid::pg_catalog.regclass::pg_catalog.text \
                      WHEN 'pg_catalog.pg_proc'::pg_catalog.regclass THEN x.oid::pg_catalog.regprocedure::pg_catalog.text \
                      ELSE pg_catalog.format_type(x.oid, NULL) END, \
                    pg_catalog.quote_ident(x.col), pg_catalog.pg_get_userbyid(x.owner), \
                    pg_catalog.pg_get_userbyid(e.grantor), \
                    CASE WHEN e.grantee = 0 THEN 'PUBLIC' ELSE pg_catalog.pg_get_userbyid(e.grantee) END, \
                    e.privilege_type, e.is_grantable, x.cat, x.oid, x.sub \
               FROM x JOIN pg_catalog.pg_namespace n ON n.oid = x.ns \
               LEFT JOIN pg_catalog.pg_init_privs ip ON ip.classoid = x.cat AND ip.objoid = x.oid AND ip.objsubid = x.sub \
               LEFT JOIN LATERAL pg_catalog.aclexplode(coalesce(x.acl, x.dflt)) WITH ORDINALITY \
                    e(grantor, grantee, privilege_type, is_grantable, ord) ON true \
              WHERE coalesce(x.acl, x.dflt, '{}') IS DISTINCT FROM coalesce(ip.initprivs, x.dflt, '{}') \
                AND ((n.nspname IN ('pg_catalog', 'information_schema') AND $2) \
                     OR (n.nspname = ANY($1) AND EXISTS (SELECT 1 FROM pg_catalog.pg_depend d \
                          WHERE d.classid = x.cat AND d.objid = x.oid AND d.deptype = 'e'))) \
              ORDER BY x.cat, x.oid, x.sub, e.ord",
            &[&scope.schemas, &scope.whole_database],
        )
        .await
        .map_err(db_err("reading changed privileges of system and extension objects"))?;
    // Per object and column, in ACL order: schema, target, column and owner.
    let groups = group_grants(&rows, 4, roles, |row| {
        let key = (row.get::<_, u32>(8), row.get::<_, u32>(9), row.get::<_, i32>(10));
        let head: (String, String, Option<String>, String) =
            (row.get(0), row.get(1), row.get(2), row.get(3));
        Some((key, head))
    });
    let mut out = Vec::new();
    for ((schema, on, column, owner), list) in groups {
        // System objects exist in every target: their statements run in every restore.
        let tag = (schema != "pg_catalog" && schema != "information_schema").then_some(schema);
        for statement in rebuild_acl(&on, column.as_deref(), &owner, &list) {
            out.push((tag.clone(), statement));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(grantor: &str, grantee: &str, privilege: &str, grantable: bool) -> Grant {
        Grant {
            grantor: grantor.into(),
            grantee: grantee.into(),
            privilege: privilege.into(),
            grantable,
        }
    }

    #[test]
    fn grants_group_by_grantee_and_keep_the_acl_order() {
        let acl = [
            grant("own", "own", "SELECT", false),
            grant("own", "own", "INSERT", false),
            grant("own", "PUBLIC", "SELECT", false),
            grant("own", "r w", "SELECT", true),
            grant("other", "x", "UPDATE", false),
        ];
        let got = grant_statements("TABLE s.t", None, "own", &acl);
        assert_eq!(
            got,
            [
                "GRANT SELECT, INSERT ON TABLE s.t TO \"own\";",
                "GRANT SELECT ON TABLE s.t TO PUBLIC;",
                "GRANT SELECT ON TABLE s.t TO \"r w\" WITH GRANT OPTION;",
                "SET SESSION AUTHORIZATION \"other\";\nGRANT UPDATE ON TABLE s.t TO \"x\";\nRESET SESSION AUTHORIZATION;",
            ]
        );
    }

    #[test]
    fn column_grants_name_their_column() {
        let acl = [grant("o", "r", "SELECT", false), grant("o", "r", "UPDATE", false)];
        let got = grant_statements("TABLE s.t", Some("\"c\""), "o", &acl);
        assert_eq!(got, ["GRANT SELECT (\"c\"), UPDATE (\"c\") ON TABLE s.t TO \"r\";"]);
    }
}
