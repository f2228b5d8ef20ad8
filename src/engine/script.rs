//! The text format of schema scripts: plain SQL that `psql` runs as it is, with one comment line
//! before each statement so a restore can tell statements apart without parsing SQL.
//!
//! ```text
//! -- streamdump statement; table ["public","orders"]
//! ALTER TABLE ONLY public.orders ADD CONSTRAINT orders_pkey PRIMARY KEY (id);
//! ```
//!
//! A statement tagged with a `table` concerns only that table (its keys and indexes): a restore
//! may run it as soon as the table's data is loaded, concurrently with other tables' loading and
//! statements, as pg_restore builds indexes in parallel; statements of one table run in order on
//! one connection. Untagged statements run one after another, after every tagged one. Only the engines write scripts, and they never emit a line that
//! starts with the marker inside a statement.
//!
//! A statement that only sets an owner or grants privileges says so (`; owner`, `; acl` right
//! after the marker), so a restore with `--no-owner` or `--no-privileges` can leave it out.

use crate::manifest::Section;

use super::SchemaScript;

const MARKER: &str = "-- streamdump statement";
const TABLE: &str = "; table ";
const SCHEMA: &str = "; schema ";

/// What a statement does, as far as a restore may want to leave it out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Kind {
    /// Creates or alters an object: always run.
    #[default]
    Create,
    /// `ALTER ... OWNER TO`: left out by `--no-owner`.
    Owner,
    /// `GRANT`, `REVOKE`, `ALTER DEFAULT PRIVILEGES`: left out by `--no-privileges`.
    Acl,
}

impl Kind {
    fn tag(self) -> &'static str {
        match self {
            Kind::Create => "",
            Kind::Owner => "; owner",
            Kind::Acl => "; acl",
        }
    }
}

/// Builds a script statement by statement.
#[derive(Debug, Default)]
pub struct ScriptWriter {
    sql: String,
    statements: u64,
}

impl ScriptWriter {
    /// Append a statement that runs in order with the others.
    pub fn push(&mut self, statement: &str) {
        self.push_in(None, statement);
    }

    /// Append a statement that belongs to `schema` (a restore of some schemas runs only theirs).
    pub fn push_for(&mut self, schema: &str, statement: &str) {
        self.push_entry(Kind::Create, None, Some(schema), statement);
    }

    /// Append a statement; tagged with its table (schema, name) it may run once that table is
    /// loaded, in parallel with other tables' work.
    pub fn push_in(&mut self, table: Option<(&str, &str)>, statement: &str) {
        self.push_entry(Kind::Create, table, None, statement);
    }

    /// Append a statement of `kind`, tagged with its table if it has one, else with its schema
    /// if it has one (the table tag implies the schema).
    pub fn push_entry(
        &mut self,
        kind: Kind,
        table: Option<(&str, &str)>,
        schema: Option<&str>,
        statement: &str,
    ) {
        match (table, schema) {
            (Some((schema, name)), _) => {
                self.marker(kind, TABLE, serde_json::json!([schema, name]))
            }
            (None, Some(schema)) => self.marker(kind, SCHEMA, serde_json::json!(schema)),
            (None, None) => self.marker(kind, "", serde_json::Value::Null),
        }
        self.statement(statement);
    }

    /// Append a parsed statement as it was.
    pub fn push_statement(&mut self, statement: &Statement) {
        let table = statement.table.as_ref().map(|(s, n)| (s.as_str(), n.as_str()));
        self.push_entry(statement.kind, table, statement.schema.as_deref(), &statement.sql);
    }

    fn marker(&mut self, kind: Kind, tag_kind: &str, tag: serde_json::Value) {
        self.sql.push_str(MARKER);
        self.sql.push_str(kind.tag());
        if !tag.is_null() {
            self.sql.push_str(tag_kind);
            // JSON escapes newlines and quotes, so the tag stays on one unambiguous line.
            self.sql.push_str(&tag.to_string());
        }
        self.sql.push('\n');
    }

    fn statement(&mut self, statement: &str) {
        let statement = statement.trim_end();
        self.sql.push_str(statement);
        if !statement.ends_with(';') {
            self.sql.push(';');
        }
        self.sql.push_str("\n\n");
        self.statements += 1;
    }

    pub fn finish(self, section: Section) -> SchemaScript {
        SchemaScript { section, sql: self.sql, statements: self.statements }
    }
}

/// One statement of a script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    /// The (schema, name) of the table the statement belongs to, if it is tagged.
    pub table: Option<(String, String)>,
    /// The schema the statement belongs to (its table's, if it has one); `None`: every restore
    /// runs it.
    pub schema: Option<String>,
    pub kind: Kind,
    pub sql: String,
}

/// Split a script into its statements. A script without markers (hand-written) is one
/// ungrouped statement.
pub fn parse(script: &str) -> Vec<Statement> {
    let mut statements: Vec<Statement> = Vec::new();
    let mut current: Option<Statement> = None;
    for line in script.split_inclusive('\n') {
        if let Some(rest) = line.trim_end_matches(['\n', '\r']).strip_prefix(MARKER) {
            statements.extend(current.take());
            let (kind, rest) = [Kind::Owner, Kind::Acl]
                .into_iter()
                .find_map(|k| rest.strip_prefix(k.tag()).map(|r| (k, r)))
                .unwrap_or((Kind::Create, rest));
            let table = rest
                .strip_prefix(TABLE)
                .and_then(|tag| serde_json::from_str::<(String, String)>(tag).ok());
            let schema = match &table {
                Some((schema, _)) => Some(schema.clone()),
                None => rest
                    .strip_prefix(SCHEMA)
                    .and_then(|tag| serde_json::from_str::<String>(tag).ok()),
            };
            current = Some(Statement { table, schema, kind, sql: String::new() });
            continue;
        }
        match current.as_mut() {
            Some(statement) => statement.sql.push_str(line),
            None => {
                current = Some(Statement {
                    table: None,
                    schema: None,
                    kind: Kind::Create,
                    sql: line.to_string(),
                })
            }
        }
    }
    statements.extend(current);
    statements.retain(|s| !s.sql.trim().is_empty());
    for s in &mut statements {
        s.sql = s.sql.trim().to_string();
    }
    statements
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_round_trip_with_their_groups() {
        let mut w = ScriptWriter::default();
        w.push_in(Some(("public", "t\"x\ny")), "CREATE INDEX i ON public.t (a)");
        w.push(
            "ALTER TABLE ONLY public.t ADD CONSTRAINT f FOREIGN KEY (a) REFERENCES public.u(a);",
        );
        w.push(
            "CREATE FUNCTION f() RETURNS text AS $$\n-- a comment\n\nselect 'x;'\n$$ LANGUAGE sql",
        );
        let script = w.finish(Section::PostData);
        assert_eq!(script.statements, 3);
        let parsed = parse(&script.sql);
        assert_eq!(parsed.len(), 3);
        assert_eq!(parsed[0].table, Some(("public".to_string(), "t\"x\ny".to_string())));
        assert_eq!(parsed[0].sql, "CREATE INDEX i ON public.t (a);");
        assert_eq!(parsed[0].schema.as_deref(), Some("public"));
        assert_eq!((&parsed[1].table, &parsed[1].schema), (&None, &None));
        assert!(
            parsed[2].sql.contains("\n\nselect 'x;'\n$$"),
            "blank lines inside a statement survive"
        );
    }

    #[test]
    fn schema_tags_survive_odd_names() {
        let mut w = ScriptWriter::default();
        w.push_for("Sales \"EU\"\n", "CREATE SCHEMA \"Sales \"\"EU\"\"\n\";");
        let parsed = parse(&w.finish(Section::PreData).sql);
        assert_eq!(parsed[0].schema.as_deref(), Some("Sales \"EU\"\n"));
        assert_eq!(parsed[0].table, None);
    }

    #[test]
    fn kinds_survive_with_their_tags() {
        let mut w = ScriptWriter::default();
        w.push_entry(Kind::Owner, None, Some("s"), "ALTER TABLE s.t OWNER TO app;");
        w.push_entry(Kind::Acl, Some(("s", "t")), None, "GRANT SELECT ON TABLE s.t TO r;");
        w.push_entry(
            Kind::Acl,
            None,
            None,
            "ALTER DEFAULT PRIVILEGES GRANT SELECT ON TABLES TO r;",
        );
        w.push_for("s", "CREATE TABLE s.t (a int);");
        let parsed = parse(&w.finish(Section::PreData).sql);
        let kinds: Vec<Kind> = parsed.iter().map(|s| s.kind).collect();
        assert_eq!(kinds, [Kind::Owner, Kind::Acl, Kind::Acl, Kind::Create]);
        assert_eq!(parsed[0].schema.as_deref(), Some("s"));
        assert_eq!(parsed[1].table, Some(("s".to_string(), "t".to_string())));
        assert_eq!((&parsed[2].table, &parsed[2].schema), (&None, &None));
        let mut again = ScriptWriter::default();
        parsed.iter().for_each(|s| again.push_statement(s));
        assert_eq!(parse(&again.finish(Section::PreData).sql), parsed);
    }

    #[test]
    fn unmarked_script_is_one_statement() {
        let parsed = parse("CREATE TABLE a (x int);\n\nCREATE TABLE b (y int);\n");
        assert_eq!(parsed.len(), 1);
        assert_eq!(parsed[0].table, None);
        assert!(parse("  \n").is_empty());
    }
}
