//! Backup side of the MySQL engine: the consistency ladder (see the engine's doc), the worker
//! connections' snapshots, and each table's rows streamed as TSV batches.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row};
use mysql_common::io::ParseBuf;
use tokio::sync::mpsc;

use super::ranges;
use super::tsv::{self, Encoding};
use super::{
    BATCH_BYTES, FTWRL_WAIT_SECS, code, connect, db_err, ddl, describe, qualified, quote_ident,
    rows, server_code, text,
};
use crate::engine::{RowBatch, RowStream, Selection, Snapshot, Source, SourceWorker, TableSpec};
use crate::error::{Error, Result};
use crate::manifest::{Consistency, Requires, SequenceValue, SourceInfo};
use crate::plan::ConnectionUrl;

/// Binlog coordinates as a server reports them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Coordinates {
    file: Option<String>,
    position: Option<u64>,
    gtid: Option<String>,
}

/// The leader's binlog file/position (`SHOW MASTER STATUS`) and GTID set, read while FTWRL
/// holds every write back.
async fn coordinates(conn: &mut Conn, mariadb: bool) -> Result<Coordinates> {
    let mut found = Coordinates::default();
    // Denied without REPLICATION CLIENT / BINLOG MONITOR: then the evidence is only the lock.
    for statement in STATUS_STATEMENTS {
        if let Ok(status) = conn.query::<Row, _>(statement).await {
            if let Some(row) = status.first() {
                (found.file, found.position) = binlog_status(text(row, 0), text(row, 1));
            }
            break;
        }
    }
    if let Ok(rows) = conn.query::<Row, _>(gtid_query(mariadb)).await {
        found.gtid = gtid_set(rows.first().and_then(|r| text(r, 0)));
    }
    Ok(found)
}

/// The statements reporting the binlog file and position, tried in order: MySQL 8.4 removed
/// `SHOW MASTER STATUS` for `SHOW BINARY LOG STATUS` (same first two columns); MariaDB and
/// MySQL before 8.4 answer the first.
const STATUS_STATEMENTS: [&str; 2] = ["SHOW MASTER STATUS", "SHOW BINARY LOG STATUS"];

/// The query for the server's GTID set: MariaDB's domain-server-sequence list, or MySQL's
/// `gtid_executed` (uuid:interval sets, empty when GTIDs are off).
fn gtid_query(mariadb: bool) -> &'static str {
    if mariadb { "SELECT @@GLOBAL.gtid_binlog_pos" } else { "SELECT @@GLOBAL.gtid_executed" }
}

/// File and position from the first two columns of a binlog status row: both or neither, since
/// a position means nothing without its file (and a position that is not a number is not
/// evidence).
fn binlog_status(file: Option<String>, position: Option<String>) -> (Option<String>, Option<u64>) {
    match (file.filter(|f| !f.is_empty()), position.and_then(|p| p.trim().parse().ok())) {
        (Some(file), Some(position)) => (Some(file), Some(position)),
        _ => (None, None),
    }
}

/// A GTID set as recorded: none when the server reports an empty one (GTIDs off, or no
/// transaction yet). MySQL prints long sets over several lines; they are kept as printed.
fn gtid_set(value: Option<String>) -> Option<String> {
    value.filter(|g| !g.trim().is_empty())
}

/// MariaDB's binlog position of a connection's consistent snapshot (empty without a binlog).
async fn snapshot_coordinates(conn: &mut Conn) -> Coordinates {
    let mut found = Coordinates::default();
    if let Ok(rows) = conn.query::<Row, _>("SHOW STATUS LIKE 'binlog_snapshot_%'").await {
        for row in rows {
            match (text(&row, 0).unwrap_or_default().to_ascii_lowercase().as_str(), text(&row, 1)) {
                ("binlog_snapshot_file", Some(f)) if !f.is_empty() => found.file = Some(f),
                ("binlog_snapshot_position", Some(p)) => found.position = p.parse().ok(),
                _ => {}
            }
        }
    }
    found
}

/// A worker session: raw bytes out, UTC times, then its snapshot.
async fn open_worker(url: &ConnectionUrl, database: &str) -> Result<Conn> {
    let mut conn = connect(url, Some(database)).await?;
    conn.query_drop(
        "SET NAMES binary, SESSION time_zone = '+00:00', SESSION sql_mode = '', \
         SESSION net_write_timeout = 3600; \
         SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ",
    )
    .await
    .map_err(db_err("setting up a dump session"))?;
    conn.query_drop("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
        .await
        .map_err(db_err("opening a consistent snapshot"))?;
    Ok(conn)
}

/// Backup side.
pub struct MysqlSource {
    url: ConnectionUrl,
    leader: Option<Conn>,
    workers: Mutex<Vec<Conn>>,
}

impl MysqlSource {
    pub fn new(url: ConnectionUrl) -> Self {
        MysqlSource { url, leader: None, workers: Mutex::new(Vec::new()) }
    }

    /// Open the workers' snapshots, as consistently as this account allows.
    async fn open_snapshots(
        &self,
        leader: &mut Conn,
        workers: usize,
        mariadb: bool,
    ) -> Result<(Vec<Conn>, Consistency)> {
        let database = self.url.database().to_string();
        let mut consistency = Consistency {
            mode: String::new(),
            snapshot_id: None,
            wal_lsn: None,
            binlog_file: None,
            binlog_position: None,
            gtid_set: None,
            workers: 0,
        };
        leader
            .query_drop(format!("SET SESSION lock_wait_timeout = {FTWRL_WAIT_SECS}"))
            .await
            .map_err(db_err("setting up the backup session"))?;
        match leader.query_drop("FLUSH TABLES WITH READ LOCK").await {
            Ok(()) => {
                let mut opened = Vec::with_capacity(workers);
                let result = async {
                    for _ in 0..workers {
                        opened.push(open_worker(&self.url, &database).await?);
                    }
                    coordinates(leader, mariadb).await
                }
                .await;
                leader.query_drop("UNLOCK TABLES").await.map_err(db_err("UNLOCK TABLES"))?;
                let at = result?;
                consistency.mode = "ftwrl_snapshot".into();
                consistency.binlog_file = at.file;
                consistency.binlog_position = at.position;
                consistency.gtid_set = at.gtid;
                consistency.workers = opened.len() as u32;
                return Ok((opened, consistency));
            }
            Err(e)
                if matches!(
                    server_code(&e),
                    Some(
                        code::SPECIFIC_ACCESS_DENIED
                            | code::ACCESS_DENIED
                            | code::DB_ACCESS_DENIED
                            | code::LOCK_WAIT_TIMEOUT
                    )
                ) =>
            {
                tracing::warn!(reason = %describe(&e), "FLUSH TABLES WITH READ LOCK failed; using lock-free snapshots");
            }
            Err(e) => return Err(Error::database("FLUSH TABLES WITH READ LOCK", describe(&e))),
        }
        let mut opened = Vec::with_capacity(workers);
        let mut at = Vec::with_capacity(workers);
        for _ in 0..workers {
            let mut conn = open_worker(&self.url, &database).await?;
            at.push(snapshot_coordinates(&mut conn).await);
            opened.push(conn);
        }
        let (mode, keep) = lock_free_mode(&at);
        opened.truncate(keep);
        consistency.mode = mode.into();
        let first = at.into_iter().next().unwrap_or_default();
        consistency.binlog_file = first.file;
        consistency.binlog_position = first.position;
        consistency.workers = opened.len() as u32;
        Ok((opened, consistency))
    }
}

/// The consistency of snapshots opened without a lock, from each one's binlog position (only
/// MariaDB reports one; MySQL's are all empty): the mode and how many connections to keep.
/// Several snapshots at one binlog position saw the same instant; otherwise they may not have,
/// and one connection reads everything.
fn lock_free_mode(at: &[Coordinates]) -> (&'static str, usize) {
    match at.first() {
        Some(first) if at.len() > 1 && first.file.is_some() && at.iter().all(|c| c == first) => {
            ("snapshot_position_match", at.len())
        }
        _ => ("single_snapshot", 1),
    }
}

#[async_trait]
impl Source for MysqlSource {
    async fn begin(&mut self, selection: &Selection, workers: usize) -> Result<Snapshot> {
        let mut leader = connect(&self.url, Some(self.url.database())).await?;
        leader
            .query_drop(
                "SET NAMES utf8mb4, SESSION sql_mode = '', SESSION sql_quote_show_create = 1, \
                 SESSION time_zone = '+00:00'",
            )
            .await
            .map_err(db_err("setting up the backup session"))?;
        let info =
            rows(&mut leader, "SELECT VERSION(), @@version_comment", "reading the server version")
                .await?;
        let server_version = info.first().and_then(|r| text(r, 0)).unwrap_or_default();
        let comment = info.first().and_then(|r| text(r, 1)).unwrap_or_default();
        let mariadb = server_version.contains("MariaDB") || comment.contains("MariaDB");

        let schemas = if selection.schemas.is_empty() {
            vec![self.url.database().to_string()]
        } else {
            selection.schemas.clone()
        };
        let found = ddl::schemas(&mut leader, &schemas).await?;
        let (opened, consistency) =
            self.open_snapshots(&mut leader, workers.max(1), mariadb).await?;
        let snapshot_at = chrono::Utc::now();
        let mut catalog = ddl::read(&mut leader, &found, &selection.exclude_tables).await?;
        if !catalog.unsupported.is_empty() && !selection.skip_unsupported {
            return Err(Error::Unsupported {
                reason: format!(
                    "this version cannot reproduce {} object(s): {}; rerun with --skip-unsupported \
                     to back up everything else and record these in the manifest",
                    catalog.unsupported.len(),
                    catalog.unsupported.join("; ")
                ),
            });
        }
        // Ranges only pay off when several connections read the snapshot, and only FTWRL
        // proves they share one instant for every write: snapshots at one binlog position
        // could still differ by writes kept out of the binlog, and a row whose key moved
        // between ranges would then be read twice or not at all.
        if opened.len() > 1 && consistency.mode == "ftwrl_snapshot" {
            ranges::split(&mut leader, &mut catalog.tables, selection.split_bytes).await?;
        }
        if let Ok(mut pool) = self.workers.lock() {
            *pool = opened;
        }
        self.leader = Some(leader);
        let first = &found[0];
        Ok(Snapshot {
            info: SourceInfo {
                engine: "mysql".into(),
                server_version,
                database: first.name.clone(),
                encoding: first.charset.clone(),
                lc_collate: Some(first.collation.clone()),
                lc_ctype: None,
            },
            consistency,
            snapshot_at,
            schemas: found.iter().map(|s| s.name.clone()).collect(),
            tables: catalog.tables,
            scripts: catalog.scripts,
            requires: Requires::default(),
            skipped: catalog.unsupported,
        })
    }

    async fn worker(&self) -> Result<Box<dyn SourceWorker>> {
        let conn = self
            .workers
            .lock()
            .ok()
            .and_then(|mut pool| pool.pop())
            .ok_or_else(|| Error::database("mysql source", "no snapshot connection left"))?;
        Ok(Box::new(MysqlWorker { conn: Arc::new(tokio::sync::Mutex::new(conn)) }))
    }

    async fn sequences(&self) -> Result<Vec<SequenceValue>> {
        Ok(Vec::new())
    }

    async fn finish(&mut self) -> Result<()> {
        if let Ok(mut pool) = self.workers.lock() {
            pool.clear();
        }
        if let Some(conn) = self.leader.take() {
            conn.disconnect().await.map_err(db_err("closing the backup session"))?;
        }
        Ok(())
    }
}

struct MysqlWorker {
    conn: Arc<tokio::sync::Mutex<Conn>>,
}

/// The select list of a table: FLOAT read as DOUBLE (see the module doc), the rest as stored.
fn select_list(table: &TableSpec) -> String {
    table
        .columns
        .iter()
        .enumerate()
        .map(|(i, c)| match table.column_types.get(i).map(String::as_str) {
            Some("float") => format!("CAST({} AS DOUBLE)", quote_ident(c)),
            _ => quote_ident(c),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn encodings(table: &TableSpec) -> Result<Vec<Encoding>> {
    Encoding::parse_all(&table.encodings).map_err(|e| {
        Error::database(
            format!("table {}", table.display_name()),
            format!("unknown column encoding '{e}'"),
        )
    })
}

#[async_trait]
impl SourceWorker for MysqlWorker {
    async fn copy_out(&mut self, table: &TableSpec, range: Option<&str>) -> Result<RowStream> {
        let filter = range.map(|r| format!(" WHERE {r}")).unwrap_or_default();
        let context = format!("reading table {}{filter}", table.display_name());
        let sql = format!(
            "SELECT {} FROM {}{filter}",
            select_list(table),
            qualified(&table.schema, &table.name)
        );
        let encodings = encodings(table)?;
        let mut conn = self.conn.clone().lock_owned().await;
        let (tx, mut rx) = mpsc::channel::<Result<RowBatch>>(4);
        tokio::spawn(async move {
            if let Err(e) = stream_rows(&mut conn, &sql, &encodings, &tx).await {
                let _ = tx.send(Err(Error::database(context, describe(&e)))).await;
            }
        });
        Ok(Box::pin(futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))))
    }
}

/// Read a table's rows and send them as TSV batches; stops quietly when the receiver is gone.
///
/// Rows come as raw text-protocol packets (`next_raw`, added to the vendored driver: see
/// vendor/mysql_async/STREAMDUMP-PATCH.md) and each field goes from the packet straight into
/// the batch. Decoding rows into the driver's `Row` first cost an allocation and a free per
/// value, about a quarter of the backup's client CPU.
async fn stream_rows(
    conn: &mut Conn,
    sql: &str,
    encodings: &[Encoding],
    tx: &mpsc::Sender<Result<RowBatch>>,
) -> std::result::Result<(), mysql_async::Error> {
    let mut result = conn.query_iter(sql).await?;
    let mut buf = Vec::with_capacity(BATCH_BYTES + 64 * 1024);
    // Rows in the batch being filled, and rows read so far (for an error's position).
    let mut rows = 0u64;
    let mut read = 0u64;
    let mut malformed = None;
    while result.next_raw(|packet| malformed = push_row(&mut buf, packet, encodings).err()).await? {
        if let Some(reason) = malformed.take() {
            let at = read + 1;
            return Err(mysql_async::Error::Other(
                format!("row {at} of this read: {reason}").into(),
            ));
        }
        rows += 1;
        read += 1;
        if buf.len() >= BATCH_BYTES {
            let bytes = Bytes::from(std::mem::replace(
                &mut buf,
                Vec::with_capacity(BATCH_BYTES + 64 * 1024),
            ));
            if tx.send(Ok(RowBatch { bytes, rows })).await.is_err() {
                return Ok(());
            }
            rows = 0;
        }
    }
    if rows > 0 {
        let _ = tx.send(Ok(RowBatch { bytes: Bytes::from(buf), rows })).await;
    }
    Ok(())
}

/// Append one text-protocol row packet to `out` as a TSV line: one field per encoding, each a
/// length-encoded string or `0xFB` for NULL. A packet with fewer or more fields than
/// `encodings`, or a length past its end, is an error (the line is then incomplete).
fn push_row(
    out: &mut Vec<u8>,
    packet: &[u8],
    encodings: &[Encoding],
) -> std::result::Result<(), &'static str> {
    let mut rest = packet;
    for (i, &encoding) in encodings.iter().enumerate() {
        if i > 0 {
            out.push(b'\t');
        }
        let value = text_field(&mut rest).ok_or("row packet ends before its last column")?;
        tsv::push_value(out, value, encoding);
    }
    if !rest.is_empty() {
        return Err("row packet holds more columns than the table's column list");
    }
    out.push(b'\n');
    Ok(())
}

/// The next field of a text-protocol row: `Some(None)` is NULL, `None` a packet too short.
/// mysql_common's reader takes 0xFB (NULL) and 0xFF (no length) as a zero length, so those two
/// are told apart here first.
fn text_field<'a>(rest: &mut &'a [u8]) -> Option<Option<&'a [u8]>> {
    match rest.first()? {
        0xfb => {
            *rest = rest.get(1..)?;
            Some(None)
        }
        0xff => None,
        _ => {
            let mut buf = ParseBuf(rest);
            let value = buf.checked_eat_lenenc_str()?;
            *rest = buf.0;
            Some(Some(value))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(file: Option<&str>, position: u64) -> Coordinates {
        Coordinates { file: file.map(str::to_string), position: Some(position), gtid: None }
    }

    #[test]
    fn text_rows_become_tsv_lines_field_by_field() {
        use Encoding::{Hex, Text};
        let mut packet = vec![2, b'4', b'2', 0xfb, 3, b'a', b'\t', b'b', 0, 2, 0x00, 0xff];
        // A 300-byte value takes the 2-byte length form (0xFC), as the server sends it.
        packet.extend_from_slice(&[0xfc, 0x2c, 0x01]);
        packet.extend(std::iter::repeat_n(b'x', 300));
        let mut out = Vec::new();
        push_row(&mut out, &packet, &[Text, Text, Text, Text, Hex, Text]).expect("a valid row");
        let mut expected = b"42\t\\N\ta\\tb\t\t00ff\t".to_vec();
        expected.extend(std::iter::repeat_n(b'x', 300));
        expected.push(b'\n');
        assert_eq!(out, expected);
    }

    #[test]
    fn every_length_form_of_a_text_field_is_read() {
        for len in [0usize, 1, 250, 251, 0xffff, 0x1_0000, 0xff_ffff, 0x100_0000] {
            let mut packet = match len {
                0..=250 => vec![len as u8],
                251..=0xffff => [&[0xfc][..], &(len as u16).to_le_bytes()].concat(),
                0x1_0000..=0xff_ffff => [&[0xfd][..], &(len as u32).to_le_bytes()[..3]].concat(),
                _ => [&[0xfe][..], &(len as u64).to_le_bytes()].concat(),
            };
            packet.extend(std::iter::repeat_n(b'v', len));
            let mut rest = &packet[..];
            let field = text_field(&mut rest).expect("complete field").expect("not NULL");
            assert_eq!(field.len(), len, "length {len}");
            assert!(rest.is_empty(), "length {len}: {} bytes left", rest.len());
        }
    }

    #[test]
    fn a_row_packet_that_does_not_match_the_columns_is_an_error() {
        let text = [Encoding::Text, Encoding::Text];
        let mut out = Vec::new();
        assert!(push_row(&mut out, &[1, b'a'], &text).is_err(), "one field for two columns");
        assert!(push_row(&mut out, &[1, b'a', 1, b'b', 1, b'c'], &text).is_err(), "three fields");
        assert!(push_row(&mut out, &[1, b'a', 5, b'b'], &text).is_err(), "length past the end");
        assert!(push_row(&mut out, &[1, b'a', 0xfc, 1], &text).is_err(), "truncated length");
        assert!(push_row(&mut out, &[1, b'a', 0xff], &text).is_err(), "0xFF is no length");
        let mut ok = Vec::new();
        push_row(&mut ok, &[1, b'a', 0], &text).expect("an empty string is a field");
        assert_eq!(ok, b"a\t\n");
    }

    #[test]
    fn binlog_coordinates_are_read_as_each_server_reports_them() {
        assert_eq!(gtid_query(true), "SELECT @@GLOBAL.gtid_binlog_pos");
        assert_eq!(gtid_query(false), "SELECT @@GLOBAL.gtid_executed");
        let status = |f: &str, p: &str| binlog_status(Some(f.into()), Some(p.into()));
        assert_eq!(status("binlog.000012", "795"), (Some("binlog.000012".into()), Some(795)));
        // A server without a binlog answers with no row (handled by the caller) or empty text.
        assert_eq!(status("", ""), (None, None));
        assert_eq!(binlog_status(None, None), (None, None));
        // Half an answer is no evidence: no position without its file, nor a file without one.
        assert_eq!(status("", "795"), (None, None));
        assert_eq!(status("binlog.000012", "unknown"), (None, None));
        // MySQL's gtid_executed, several lines for several sources, is kept as printed.
        let mysql =
            "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5,\n4e11fa47-71ca-11e1-9e33-c80aa9429562:1-3";
        assert_eq!(gtid_set(Some(mysql.into())).as_deref(), Some(mysql));
        assert_eq!(gtid_set(Some("0-1-42".into())).as_deref(), Some("0-1-42"));
        // GTIDs off (MySQL) or no transaction yet (MariaDB): nothing claimed.
        assert_eq!(gtid_set(Some(String::new())), None);
        assert_eq!(gtid_set(None), None);
    }

    #[test]
    fn lock_free_snapshots_share_an_instant_only_at_one_binlog_position() {
        let same = [at(Some("binlog.000012"), 795), at(Some("binlog.000012"), 795)];
        assert_eq!(lock_free_mode(&same), ("snapshot_position_match", 2));
        let moved = [at(Some("binlog.000012"), 795), at(Some("binlog.000012"), 1034)];
        assert_eq!(lock_free_mode(&moved), ("single_snapshot", 1));
        // MySQL reports no snapshot position (nor MariaDB without a binlog): one connection.
        let unknown = [Coordinates::default(), Coordinates::default()];
        assert_eq!(lock_free_mode(&unknown), ("single_snapshot", 1));
        // One snapshot is a single snapshot, not a match of one.
        assert_eq!(lock_free_mode(&same[..1]), ("single_snapshot", 1));
    }
}
