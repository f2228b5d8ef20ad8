//! Schema scripts for MySQL/MariaDB from the server's own `SHOW CREATE` statements.
//!
//! Pre-data: the database's options (as `ALTER DATABASE` of whichever database the restore
//! targets), tables (foreign keys included: the restore session runs with
//! `foreign_key_checks=0`, so creation order does not matter), then functions and procedures,
//! then views ordered so a view comes after the views it reads. Post-data: triggers, tagged
//! with their table so each is created once its table's data is in (creating them first would
//! fire them during the load), then events. Routines, triggers and events are replayed under
//! the `sql_mode`, character set and (for events) time zone they were created with, as
//! mysqldump does; views under their character set. Definers are kept as they are.

use std::collections::{BTreeMap, HashSet};

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row};

use super::tsv::Encoding;
use super::{FORMAT_TSV, qualified, quote_ident, quote_str, rows};
use crate::engine::script::ScriptWriter;
use crate::engine::{SchemaScript, TableSpec};
use crate::error::{Error, Result};
use crate::manifest::Section;
use crate::plan::{Definer, TablePattern};

/// A database (MySQL's schema) and its defaults.
#[derive(Debug, Clone)]
pub struct SchemaInfo {
    pub name: String,
    pub charset: String,
    pub collation: String,
}

/// What a backup of the selected databases holds.
pub struct Catalog {
    pub tables: Vec<TableSpec>,
    pub scripts: Vec<SchemaScript>,
    pub unsupported: Vec<String>,
}

fn field(row: &Row, name: &str) -> Option<String> {
    let i = row.columns_ref().iter().position(|c| c.name_str().eq_ignore_ascii_case(name))?;
    super::text(row, i)
}

fn list(names: &[String]) -> String {
    names.iter().map(|n| quote_str(n)).collect::<Vec<_>>().join(", ")
}

/// The selected databases, each of which must exist.
pub async fn schemas(conn: &mut Conn, wanted: &[String]) -> Result<Vec<SchemaInfo>> {
    let found = rows(
        conn,
        &format!(
            "SELECT SCHEMA_NAME, DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME \
             FROM information_schema.SCHEMATA WHERE SCHEMA_NAME IN ({})",
            list(wanted)
        ),
        "reading the databases",
    )
    .await?;
    let mut out = Vec::with_capacity(wanted.len());
    for name in wanted {
        let row = found.iter().find(|r| super::text(r, 0).as_deref() == Some(name));
        let Some(row) = row else {
            return Err(Error::invalid(
                format!("schema '{name}'"),
                "no such database on the server (or no privilege on it)",
            ));
        };
        out.push(SchemaInfo {
            name: name.clone(),
            charset: super::text(row, 1).unwrap_or_default(),
            collation: super::text(row, 2).unwrap_or_default(),
        });
    }
    Ok(out)
}

/// Is an information_schema `EXTRA` value that of a generated column?
fn generated(extra: &str) -> bool {
    let extra = extra.to_ascii_uppercase();
    extra.contains("VIRTUAL") || extra.contains("STORED") || extra.contains("PERSISTENT")
}

/// Tables and their columns, then the scripts.
pub async fn read(
    conn: &mut Conn,
    schemas: &[SchemaInfo],
    exclude: &[TablePattern],
) -> Result<Catalog> {
    let names: Vec<String> = schemas.iter().map(|s| s.name.clone()).collect();
    let listed = rows(
        conn,
        &format!(
            "SELECT TABLE_SCHEMA, TABLE_NAME, TABLE_TYPE, COALESCE(DATA_LENGTH, 0) \
             FROM information_schema.TABLES WHERE TABLE_SCHEMA IN ({}) ORDER BY 1, 2",
            list(&names)
        ),
        "listing tables",
    )
    .await?;
    let columns = rows(
        conn,
        &format!(
            "SELECT TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME, LOWER(DATA_TYPE), EXTRA \
             FROM information_schema.COLUMNS WHERE TABLE_SCHEMA IN ({}) \
             ORDER BY TABLE_SCHEMA, TABLE_NAME, ORDINAL_POSITION",
            list(&names)
        ),
        "listing columns",
    )
    .await?;
    let mut by_table: BTreeMap<(String, String), Vec<(String, String)>> = BTreeMap::new();
    for row in &columns {
        let (Some(schema), Some(table), Some(column), Some(data_type)) =
            (super::text(row, 0), super::text(row, 1), super::text(row, 2), super::text(row, 3))
        else {
            continue;
        };
        if generated(&super::text(row, 4).unwrap_or_default()) {
            continue;
        }
        by_table.entry((schema, table)).or_default().push((column, data_type));
    }

    let mut tables = Vec::new();
    let mut views: Vec<(String, String)> = Vec::new();
    let mut unsupported = Vec::new();
    for row in &listed {
        let (Some(schema), Some(name), Some(kind)) =
            (super::text(row, 0), super::text(row, 1), super::text(row, 2))
        else {
            continue;
        };
        if exclude.iter().any(|p| p.matches(&schema, &name)) {
            continue;
        }
        match kind.as_str() {
            "BASE TABLE" => {
                let cols = by_table.remove(&(schema.clone(), name.clone())).unwrap_or_default();
                tables.push(TableSpec {
                    estimated_bytes: super::text(row, 3).and_then(|b| b.parse().ok()).unwrap_or(0),
                    filter: None,
                    load_via: None,
                    ranges: Vec::new(),
                    encodings: cols
                        .iter()
                        .map(|(_, t)| Encoding::for_type(t).name().to_string())
                        .collect(),
                    column_types: cols.iter().map(|(_, t)| t.clone()).collect(),
                    columns: cols.into_iter().map(|(c, _)| c).collect(),
                    format: FORMAT_TSV.into(),
                    schema,
                    name,
                });
            }
            "VIEW" => views.push((schema, name)),
            other => unsupported.push(format!(
                "{} {} (a {}: not backed up by this version)",
                other.to_ascii_lowercase(),
                qualified(&schema, &name),
                other.to_ascii_lowercase()
            )),
        }
    }

    let kept: HashSet<(String, String)> =
        tables.iter().map(|t| (t.schema.clone(), t.name.clone())).collect();
    let mut pre = ScriptWriter::default();
    let mut post = ScriptWriter::default();
    for schema in &names {
        // The server qualifies names of a view's own database unless that database is the
        // current one; unqualified, they follow the restore into a database of another name.
        conn.query_drop(format!("USE {}", quote_ident(schema)))
            .await
            .map_err(super::db_err(format!("reading the definitions in database {schema}")))?;
        let create = show_create(conn, "DATABASE", schema, "", "Create Database").await?;
        if let Some(alter) = alter_database(&create.text) {
            pre.push_for(schema, &alter);
        }
        for table in tables.iter().filter(|t| &t.schema == schema) {
            let create = show_create(conn, "TABLE", schema, &table.name, "Create Table").await?;
            pre.push_for(schema, &format!("{};", create.text));
        }
        routines(conn, schema, &mut pre).await?;
        let mut created_views = Vec::new();
        for (_, name) in views.iter().filter(|(s, _)| s == schema) {
            created_views.push((
                schema.clone(),
                name.clone(),
                show_create(conn, "VIEW", schema, name, "Create View").await?,
            ));
        }
        for (_, _, create) in order_views(created_views) {
            pre.push_for(schema, &create.replay(&format!("{};", create.text)));
        }
        triggers(conn, schema, &kept, &mut post).await?;
        events(conn, schema, &mut post).await?;
    }
    Ok(Catalog {
        tables,
        scripts: vec![pre.finish(Section::PreData), post.finish(Section::PostData)],
        unsupported,
    })
}

/// A `SHOW CREATE` result: the statement and the session settings it was created under.
#[derive(Debug, Clone)]
struct Created {
    text: String,
    sql_mode: Option<String>,
    charset: Option<String>,
    collation: Option<String>,
    time_zone: Option<String>,
}

impl Created {
    /// The statement wrapped in the settings it was created under, restored afterwards: one
    /// multi-statement text, so it can run on any connection without changing its session.
    fn replay(&self, statement: &str) -> String {
        let mut set = Vec::new();
        let mut restore = Vec::new();
        let mut setting = |var: &str, value: String| {
            set.push(format!("{var} = {value}"));
            restore.push(format!("{var} = @streamdump_saved_{var}"));
        };
        if let Some(mode) = &self.sql_mode {
            setting("sql_mode", quote_str(mode));
        }
        // The statement travels as UTF-8: declaring another client character set is right only
        // when the text is the same bytes in it.
        let utf8 = |cs: &str| cs.starts_with("utf8");
        if let Some(cs) = self.charset.as_deref().filter(|cs| statement.is_ascii() || utf8(cs)) {
            setting("character_set_client", quote_str(cs));
            if let Some(coll) = &self.collation {
                setting("collation_connection", quote_str(coll));
            }
        }
        if let Some(tz) = &self.time_zone {
            setting("time_zone", quote_str(tz));
        }
        if set.is_empty() {
            return statement.to_string();
        }
        let saved: Vec<String> = restore
            .iter()
            .map(|r| {
                let var = r.split(" = ").next().unwrap_or_default();
                format!("@streamdump_saved_{var} = @@{var}")
            })
            .collect();
        format!(
            "SET {};\nSET {};\n{statement}\nSET {};",
            saved.join(", "),
            set.join(", "),
            restore.join(", ")
        )
    }
}

async fn show_create(
    conn: &mut Conn,
    kind: &str,
    schema: &str,
    name: &str,
    column: &str,
) -> Result<Created> {
    let object = if kind == "DATABASE" { quote_ident(schema) } else { qualified(schema, name) };
    let what = format!("{} {object}", kind.to_ascii_lowercase());
    let found = rows(
        conn,
        &format!("SHOW CREATE {kind} {object}"),
        &format!("reading the definition of {what}"),
    )
    .await?;
    let row = found.first();
    let text = row.and_then(|r| field(r, column)).ok_or_else(|| {
        Error::database(
            format!("reading the definition of {what}"),
            "the server returned no definition: the account lacks the privilege to see it \
             (SHOW VIEW, SHOW_ROUTINE or SELECT on mysql.proc, TRIGGER, EVENT)",
        )
    })?;
    Ok(Created {
        text,
        sql_mode: row.and_then(|r| field(r, "sql_mode")),
        charset: row.and_then(|r| field(r, "character_set_client")),
        collation: row.and_then(|r| field(r, "collation_connection")),
        time_zone: row.and_then(|r| field(r, "time_zone")),
    })
}

async fn routines(conn: &mut Conn, schema: &str, script: &mut ScriptWriter) -> Result<()> {
    let found = rows(
        conn,
        &format!(
            "SELECT ROUTINE_TYPE, ROUTINE_NAME FROM information_schema.ROUTINES \
             WHERE ROUTINE_SCHEMA = {} AND ROUTINE_TYPE IN ('FUNCTION', 'PROCEDURE') ORDER BY 1, 2",
            quote_str(schema)
        ),
        "listing routines",
    )
    .await?;
    for row in &found {
        let (Some(kind), Some(name)) = (super::text(row, 0), super::text(row, 1)) else { continue };
        let column = if kind == "FUNCTION" { "Create Function" } else { "Create Procedure" };
        let created = show_create(conn, &kind, schema, &name, column).await?;
        script.push_for(schema, &created.replay(&format!("{};", created.text)));
    }
    Ok(())
}

async fn triggers(
    conn: &mut Conn,
    schema: &str,
    tables: &HashSet<(String, String)>,
    script: &mut ScriptWriter,
) -> Result<()> {
    let found = rows(
        conn,
        &format!(
            "SELECT TRIGGER_NAME, EVENT_OBJECT_TABLE FROM information_schema.TRIGGERS \
             WHERE TRIGGER_SCHEMA = {} ORDER BY EVENT_OBJECT_TABLE, ACTION_TIMING, \
             EVENT_MANIPULATION, ACTION_ORDER",
            quote_str(schema)
        ),
        "listing triggers",
    )
    .await?;
    for row in &found {
        let (Some(name), Some(table)) = (super::text(row, 0), super::text(row, 1)) else {
            continue;
        };
        if !tables.contains(&(schema.to_string(), table.clone())) {
            continue;
        }
        let created = show_create(conn, "TRIGGER", schema, &name, "SQL Original Statement").await?;
        let statement = created.replay(&format!("{};", created.text));
        script.push_in(Some((schema, &table)), &statement);
    }
    Ok(())
}

async fn events(conn: &mut Conn, schema: &str, script: &mut ScriptWriter) -> Result<()> {
    let found = rows(
        conn,
        &format!(
            "SELECT EVENT_NAME FROM information_schema.EVENTS WHERE EVENT_SCHEMA = {} ORDER BY 1",
            quote_str(schema)
        ),
        "listing events",
    )
    .await?;
    for row in &found {
        let Some(name) = super::text(row, 0) else { continue };
        let created = show_create(conn, "EVENT", schema, &name, "Create Event").await?;
        script.push_for(schema, &created.replay(&format!("{};", created.text)));
    }
    Ok(())
}

/// `SHOW CREATE DATABASE`'s options (character set, collation, MariaDB's comment, MySQL's
/// encryption default) as an `ALTER DATABASE` of the current database: the restore applies them
/// to its target, whatever that database is called. `None` when there are no options.
fn alter_database(create: &str) -> Option<String> {
    let rest = create.strip_prefix("CREATE DATABASE ")?;
    let rest = rest.strip_prefix("IF NOT EXISTS ").unwrap_or(rest);
    let options = rest[quoted_end(rest.as_bytes(), 0)?..].trim();
    (!options.is_empty()).then(|| format!("ALTER DATABASE {options};"))
}

/// `statement` with the DEFINER clause of its CREATE line replaced (or left out) per `definer`.
/// SHOW CREATE always writes it as ``DEFINER=`user`@`host` `` on the line that starts with
/// CREATE; `SQL SECURITY DEFINER` is not touched.
pub fn with_definer(statement: &str, definer: &Definer) -> String {
    if *definer == Definer::Keep {
        return statement.to_string();
    }
    let mut out = String::with_capacity(statement.len());
    let mut done = false;
    for line in statement.split_inclusive('\n') {
        if done || !line.starts_with("CREATE ") {
            out.push_str(line);
            continue;
        }
        done = true;
        match definer_span(line) {
            Some((start, end)) => {
                out.push_str(&line[..start]);
                match definer {
                    Definer::Account(account) => {
                        out.push_str("DEFINER=");
                        out.push_str(account);
                        out.push_str(&line[end..]);
                    }
                    _ => out.push_str(line[end..].trim_start_matches(' ')),
                }
            }
            None => out.push_str(line),
        }
    }
    out
}

/// Byte range of ``DEFINER=`user`@`host` `` in a line.
fn definer_span(line: &str) -> Option<(usize, usize)> {
    let start = line.find("DEFINER=`")?;
    let bytes = line.as_bytes();
    let user_end = quoted_end(bytes, start + "DEFINER=".len())?;
    if bytes.get(user_end) != Some(&b'@') {
        return None;
    }
    Some((start, quoted_end(bytes, user_end + 1)?))
}

/// The index just past the backquoted name that starts at `start` (a doubled backquote is part
/// of the name); `None` if no complete backquoted name starts there.
fn quoted_end(bytes: &[u8], start: usize) -> Option<usize> {
    if bytes.get(start) != Some(&b'`') {
        return None;
    }
    let mut i = start + 1;
    loop {
        match bytes.get(i)? {
            b'`' if bytes.get(i + 1) == Some(&b'`') => i += 2,
            b'`' => return Some(i + 1),
            _ => i += 1,
        }
    }
}

/// Views after the views they read. A view reads another if the other's quoted name appears in
/// its definition (a false positive only adds an ordering constraint); a cycle, impossible
/// between real views, keeps the remaining views in name order.
fn order_views(views: Vec<(String, String, Created)>) -> Vec<(String, String, Created)> {
    let names: Vec<String> = views.iter().map(|(_, n, _)| quote_ident(n)).collect();
    let deps: Vec<Vec<usize>> = views
        .iter()
        .enumerate()
        .map(|(i, (_, _, c))| {
            // The definition starts with the view's own name; look only at what follows AS.
            let body = c.text.split_once(" AS ").map(|(_, b)| b).unwrap_or(&c.text);
            (0..views.len()).filter(|&j| j != i && body.contains(&names[j])).collect()
        })
        .collect();
    let mut placed = vec![false; views.len()];
    let mut order = Vec::with_capacity(views.len());
    while order.len() < views.len() {
        let next = (0..views.len())
            .find(|&i| !placed[i] && deps[i].iter().all(|&d| placed[d]))
            .or_else(|| (0..views.len()).find(|&i| !placed[i]));
        let Some(i) = next else { break };
        placed[i] = true;
        order.push(i);
    }
    let mut slots: Vec<Option<(String, String, Created)>> = views.into_iter().map(Some).collect();
    order.into_iter().filter_map(|i| slots[i].take()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(name: &str, body: &str) -> (String, String, Created) {
        (
            "db".into(),
            name.into(),
            Created {
                text: format!("CREATE VIEW `{name}` AS {body}"),
                sql_mode: None,
                charset: None,
                collation: None,
                time_zone: None,
            },
        )
    }

    #[test]
    fn views_come_after_the_views_they_read() {
        let ordered = order_views(vec![
            view("a_top", "select * from `m_mid`"),
            view("m_mid", "select * from `z_base` join `t`"),
            view("z_base", "select 1"),
        ]);
        let names: Vec<&str> = ordered.iter().map(|(_, n, _)| n.as_str()).collect();
        assert_eq!(names, ["z_base", "m_mid", "a_top"]);
    }

    #[test]
    fn a_cycle_still_yields_every_view() {
        let ordered =
            order_views(vec![view("a", "select * from `b`"), view("b", "select * from `a`")]);
        assert_eq!(ordered.len(), 2);
    }

    #[test]
    fn replay_restores_the_session_it_changes() {
        let created = Created {
            text: "CREATE TRIGGER t".into(),
            sql_mode: Some("STRICT_TRANS_TABLES".into()),
            charset: Some("latin1".into()),
            collation: Some("latin1_swedish_ci".into()),
            time_zone: None,
        };
        let sql = created.replay("CREATE TRIGGER t;");
        assert!(sql.starts_with("SET @streamdump_saved_sql_mode = @@sql_mode, "), "{sql}");
        assert!(
            sql.contains("SET sql_mode = 'STRICT_TRANS_TABLES', character_set_client = 'latin1'")
        );
        assert!(sql.ends_with("collation_connection = @streamdump_saved_collation_connection;"));
        // Non-ASCII text is sent as UTF-8, so a latin1 client character set would garble it.
        let sql = created.replay("CREATE TRIGGER t SET x = 'é';");
        assert!(!sql.contains("latin1"), "{sql}");
    }

    #[test]
    fn definers_are_kept_replaced_or_left_out() {
        let view = "SET character_set_client = 'utf8mb3';\nCREATE ALGORITHM=UNDEFINED DEFINER=`ro``ot`@`%` SQL SECURITY DEFINER VIEW `v` AS select 1;\nSET x = 1;";
        assert_eq!(with_definer(view, &Definer::Keep), view);
        let current = with_definer(view, &Definer::Current);
        assert!(
            current.contains("\nCREATE ALGORITHM=UNDEFINED SQL SECURITY DEFINER VIEW `v`"),
            "{current}"
        );
        let account = with_definer(view, &Definer::Account("`app`@`%`".into()));
        assert!(
            account
                .contains("CREATE ALGORITHM=UNDEFINED DEFINER=`app`@`%` SQL SECURITY DEFINER VIEW"),
            "{account}"
        );
        // A body mentioning DEFINER= later is left alone.
        let trigger = "CREATE DEFINER=`a`@`b` TRIGGER t BEFORE INSERT ON x FOR EACH ROW\nSET @s = 'DEFINER=`a`@`b`';";
        let current = with_definer(trigger, &Definer::Current);
        assert_eq!(
            current,
            "CREATE TRIGGER t BEFORE INSERT ON x FOR EACH ROW\nSET @s = 'DEFINER=`a`@`b`';"
        );
        let none = "CREATE TABLE `t` (`a` int)";
        assert_eq!(with_definer(none, &Definer::Current), none);
    }

    #[test]
    fn database_options_apply_to_whichever_database_is_restored_into() {
        assert_eq!(
            alter_database(
                "CREATE DATABASE `sa``k` /*!40100 DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci */ COMMENT 'films'"
            )
            .as_deref(),
            Some(
                "ALTER DATABASE /*!40100 DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci */ COMMENT 'films';"
            )
        );
        assert_eq!(alter_database("CREATE DATABASE `plain`"), None);
        assert_eq!(alter_database("something else"), None);
    }

    #[test]
    fn generated_columns_are_recognised() {
        assert!(generated("VIRTUAL GENERATED"));
        assert!(generated("STORED GENERATED"));
        assert!(!generated("DEFAULT_GENERATED"));
        assert!(!generated("auto_increment"));
        assert!(!generated("INVISIBLE"));
    }
}
