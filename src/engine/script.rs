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

use crate::manifest::Section;

use super::SchemaScript;

const MARKER: &str = "-- streamdump statement";
const TABLE: &str = "; table ";
const SCHEMA: &str = "; schema ";

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
        self.marker(SCHEMA, serde_json::json!(schema));
        self.statement(statement);
    }

    /// Append a statement; tagged with its table (schema, name) it may run once that table is
    /// loaded, in parallel with other tables' work.
    pub fn push_in(&mut self, table: Option<(&str, &str)>, statement: &str) {
        match table {
            Some((schema, name)) => self.marker(TABLE, serde_json::json!([schema, name])),
            None => self.marker("", serde_json::Value::Null),
        }
        self.statement(statement);
    }

    fn marker(&mut self, kind: &str, tag: serde_json::Value) {
        self.sql.push_str(MARKER);
        if !tag.is_null() {
            self.sql.push_str(kind);
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
            let table = rest
                .strip_prefix(TABLE)
                .and_then(|tag| serde_json::from_str::<(String, String)>(tag).ok());
            let schema = match &table {
                Some((schema, _)) => Some(schema.clone()),
                None => rest
                    .strip_prefix(SCHEMA)
                    .and_then(|tag| serde_json::from_str::<String>(tag).ok()),
            };
            current = Some(Statement { table, schema, sql: String::new() });
            continue;
        }
        match current.as_mut() {
            Some(statement) => statement.sql.push_str(line),
            None => current = Some(Statement { table: None, schema: None, sql: line.to_string() }),
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
    fn unmarked_script_is_one_statement() {
        let parsed = parse("CREATE TABLE a (x int);\n\nCREATE TABLE b (y int);\n");
        assert_eq!(parsed.len(), 1);
        assert_eq!(parsed[0].table, None);
        assert!(parse("  \n").is_empty());
    }
}
