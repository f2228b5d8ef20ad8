//! Key ranges for reading one big MySQL table on several workers at once.
//!
//! A table read whole takes one worker however big it is, so a database with one dominant table
//! backs up at one worker's speed (mydumper's `--rows` and MySQL Shell's chunking exist for this).
//! A table bigger than the split size (the chunk size, compared with the on-disk `DATA_LENGTH`,
//! which only estimates the TSV bytes) whose primary key is one integer column is cut into
//! ranges of that key, about one per split size: `k < b1`, `b1 <= k < b2`, ..., `k >= bn`. The
//! first and last ranges are open, so the ranges select every row exactly once whatever the
//! key's values; the bounds only come from `MIN`/`MAX` read outside the snapshot and spread the
//! work evenly when the keys are dense.
//!
//! Every worker reads the same snapshot, so the ranges together are the table at the snapshot's
//! instant. The source splits only under FTWRL, whose snapshots provably share that instant,
//! and only InnoDB tables: a table of a non-transactional engine (MyISAM, Aria) has no snapshot,
//! and ranges read at different moments could miss or repeat a row whose key changed in
//! between, so such tables are read whole.

use std::collections::{BTreeSet, HashMap};

use mysql_async::Conn;

use super::{qualified, quote_ident, quote_str, rows, text};
use crate::engine::TableSpec;
use crate::error::Result;

/// Most ranges a table is cut into: each range is at least one object in the store.
const MAX_RANGES: u64 = 1024;

/// The integer column types a range split can use (`information_schema` `DATA_TYPE`).
const INTEGER_TYPES: [&str; 5] = ["tinyint", "smallint", "mediumint", "int", "bigint"];

/// Give every InnoDB table bigger than `split_bytes` with a one-column integer primary key its
/// ranges. Tables that cannot be split (another engine, no such key, empty, too few keys) stay
/// whole.
pub(super) async fn split(
    leader: &mut Conn,
    tables: &mut [TableSpec],
    split_bytes: u64,
) -> Result<()> {
    if split_bytes == 0 || tables.iter().all(|t| t.estimated_bytes <= split_bytes) {
        return Ok(());
    }
    let keys = primary_keys(leader, tables).await?;
    for table in tables.iter_mut().filter(|t| t.estimated_bytes > split_bytes) {
        let pieces = table.estimated_bytes.div_ceil(split_bytes).min(MAX_RANGES);
        let Some(column) = integer_key(&keys, table) else { continue };
        let sql = format!(
            "SELECT MIN({c}), MAX({c}) FROM {t}",
            c = quote_ident(&column),
            t = qualified(&table.schema, &table.name)
        );
        let context = format!("reading the key range of table {}", table.display_name());
        let bounds = rows(leader, &sql, &context).await?;
        let parse =
            |i| bounds.first().and_then(|r| text(r, i)).and_then(|v| v.parse::<i128>().ok());
        if let (Some(min), Some(max)) = (parse(0), parse(1)) {
            table.ranges = key_ranges(&column, min, max, pieces);
        }
    }
    Ok(())
}

/// The primary key columns of the InnoDB tables in the tables' schemas, by (schema, table), in
/// one query.
async fn primary_keys(
    leader: &mut Conn,
    tables: &[TableSpec],
) -> Result<HashMap<(String, String), Vec<String>>> {
    let schemas: BTreeSet<&str> = tables.iter().map(|t| t.schema.as_str()).collect();
    let sql = format!(
        "SELECT s.TABLE_SCHEMA, s.TABLE_NAME, s.COLUMN_NAME FROM information_schema.STATISTICS s \
         JOIN information_schema.TABLES t \
         ON t.TABLE_SCHEMA = s.TABLE_SCHEMA AND t.TABLE_NAME = s.TABLE_NAME \
         WHERE s.TABLE_SCHEMA IN ({}) AND s.INDEX_NAME = 'PRIMARY' AND t.ENGINE = 'InnoDB'",
        schemas.iter().map(|s| quote_str(s)).collect::<Vec<_>>().join(", ")
    );
    let mut keys: HashMap<(String, String), Vec<String>> = HashMap::new();
    for row in rows(leader, &sql, "reading primary keys").await? {
        if let (Some(schema), Some(table), Some(column)) =
            (text(&row, 0), text(&row, 1), text(&row, 2))
        {
            keys.entry((schema, table)).or_default().push(column);
        }
    }
    Ok(keys)
}

/// The table's primary key column, if the key is one integer column that is read (not a
/// generated column, which the backup leaves out).
fn integer_key(keys: &HashMap<(String, String), Vec<String>>, table: &TableSpec) -> Option<String> {
    let [column] = keys.get(&(table.schema.clone(), table.name.clone()))?.as_slice() else {
        return None;
    };
    let integer = table
        .columns
        .iter()
        .position(|c| c == column)
        .and_then(|i| table.column_types.get(i))
        .is_some_and(|t| INTEGER_TYPES.contains(&t.as_str()));
    integer.then(|| column.clone())
}

/// Conditions on `column` cutting `min..=max` into at most `pieces` ranges of equal width, the
/// first and last open-ended. Fewer than two pieces (or keys): none, the table is read whole.
fn key_ranges(column: &str, min: i128, max: i128, pieces: u64) -> Vec<String> {
    let span = max - min + 1;
    let pieces = i128::from(pieces).min(span);
    if pieces < 2 {
        return Vec::new();
    }
    let c = quote_ident(column);
    let bounds: Vec<i128> = (1..pieces).map(|i| min + span * i / pieces).collect();
    let mut ranges = Vec::with_capacity(bounds.len() + 1);
    ranges.push(format!("{c} < {}", bounds[0]));
    for pair in bounds.windows(2) {
        ranges.push(format!("{c} >= {} AND {c} < {}", pair[0], pair[1]));
    }
    ranges.push(format!("{c} >= {}", bounds[bounds.len() - 1]));
    ranges
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Which range (by position) a key falls into, evaluating the conditions as MySQL would.
    fn owners(ranges: &[String], key: i128) -> Vec<usize> {
        let holds = |cond: &str| {
            cond.split(" AND ").all(|part| {
                let (op, bound) = if let Some(b) = part.strip_prefix("`id` >= ") {
                    (">=", b)
                } else if let Some(b) = part.strip_prefix("`id` < ") {
                    ("<", b)
                } else {
                    panic!("unexpected condition {part}")
                };
                let bound: i128 = bound.parse().expect("integer bound");
                if op == ">=" { key >= bound } else { key < bound }
            })
        };
        ranges.iter().enumerate().filter(|(_, r)| holds(r)).map(|(i, _)| i).collect()
    }

    #[test]
    fn ranges_take_every_key_exactly_once_and_split_the_span_evenly() {
        let ranges = key_ranges("id", 1, 1000, 4);
        assert_eq!(
            ranges,
            [
                "`id` < 251",
                "`id` >= 251 AND `id` < 501",
                "`id` >= 501 AND `id` < 751",
                "`id` >= 751"
            ]
        );
        // Keys outside the bounds read (rows added after MIN/MAX, or before the snapshot's
        // instant but below it) still land in exactly one range.
        for key in [-5, 0, 1, 250, 251, 500, 999, 1000, 1001, 10_000] {
            assert_eq!(owners(&ranges, key).len(), 1, "key {key} in {:?}", owners(&ranges, key));
        }
    }

    #[test]
    fn extreme_keys_of_every_width_split_without_overflow() {
        let unsigned_max = i128::from(u64::MAX);
        let ranges = key_ranges("id", 0, unsigned_max, 3);
        assert_eq!(ranges.len(), 3);
        assert_eq!(ranges[2], format!("`id` >= {}", (unsigned_max + 1) * 2 / 3));
        for key in [0, unsigned_max / 3, unsigned_max / 3 + 1, unsigned_max] {
            assert_eq!(owners(&ranges, key).len(), 1, "key {key}");
        }
        let signed = key_ranges("id", i128::from(i64::MIN), i128::from(i64::MAX), 2);
        assert_eq!(signed, ["`id` < 0", "`id` >= 0"]);
    }

    #[test]
    fn too_few_keys_or_pieces_read_the_table_whole() {
        assert!(key_ranges("id", 7, 7, 16).is_empty(), "one key");
        assert!(key_ranges("id", 1, 1000, 1).is_empty(), "one piece");
        // Three keys, ten pieces asked: one range per key at most.
        let ranges = key_ranges("id", 1, 3, 10);
        assert_eq!(ranges, ["`id` < 2", "`id` >= 2 AND `id` < 3", "`id` >= 3"]);
        // A quoted name stays quoted.
        assert_eq!(key_ranges("we`ird", 0, 1, 2)[0], "`we``ird` < 1");
    }
}
