//! `streamdump` command line: backup | restore | verify | list.
//!
//! Thin by design: flags become a request, the library's `plan` validates it, the library runs
//! it. On failure the first line on stderr is the one-line cause; with `--json` a JSON error
//! object is printed on stdout as well, so scripts can route on `error.type`.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use streamdump::backup::{self, Observer, Quiet};
use streamdump::plan::{self, BackupRequest, RestoreRequest};
use streamdump::store::{Location, S3Options, ServerSideEncryption, StoreOptions};
use streamdump::{restore, verify};

#[derive(Parser)]
#[command(
    name = "streamdump",
    version,
    about = "Streaming logical backups of PostgreSQL to S3 or local files, with verified restore"
)]
struct Cli {
    /// More log output on stderr (-v info, -vv debug). RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Back up a database (one consistent snapshot) to s3://bucket/prefix or file:///dir.
    Backup(BackupArgs),
    /// Restore a backup from its manifest URL into a database.
    Restore(RestoreArgs),
    /// Re-read every object of a backup and check hashes and row counts (no database needed).
    Verify(VerifyArgs),
    /// List the backups under a destination.
    List(ListArgs),
}

#[derive(Args)]
struct BackupArgs {
    /// Source database URL (postgres://user:password@host:port/db). Prefer the environment
    /// variable to keep the password out of the process list.
    #[arg(long, env = "STREAMDUMP_SOURCE", hide_env_values = true)]
    source: String,
    /// Destination: s3://bucket/prefix or file:///dir.
    #[arg(long)]
    to: String,
    /// Back up only this schema (repeatable). Default: every non-system schema.
    #[arg(long = "schema")]
    schemas: Vec<String>,
    /// Leave out this table, `schema.table` or `table` (repeatable).
    #[arg(long = "exclude-table")]
    exclude_tables: Vec<String>,
    /// Worker connections reading tables in parallel.
    #[arg(long, short = 'j')]
    jobs: Option<usize>,
    /// Raw bytes after which a table rolls over into its next chunk object (e.g. 1GiB, 64MiB;
    /// default 1GiB for PostgreSQL, 64MiB for MySQL).
    #[arg(long, value_parser = plan::parse_size)]
    chunk_size: Option<u64>,
    /// zstd compression level (1-19).
    #[arg(long)]
    zstd_level: Option<i32>,
    /// Back up everything else when an object cannot be reproduced, recording it in the manifest.
    #[arg(long)]
    skip_unsupported: bool,
    #[command(flatten)]
    store: StoreArgs,
    /// Print one JSON report on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct RestoreArgs {
    /// Manifest URL (…/manifest.json) or the backup's directory URL.
    #[arg(long)]
    from: String,
    /// Target database URL. The database must exist unless --create.
    #[arg(long, env = "STREAMDUMP_TARGET", hide_env_values = true)]
    target: String,
    /// Loader connections in parallel.
    #[arg(long, short = 'j')]
    jobs: Option<usize>,
    /// Drop and recreate the backed-up schemas if the target holds tables in them.
    #[arg(long)]
    replace: bool,
    /// Create the target database if it does not exist.
    #[arg(long)]
    create: bool,
    /// Restore only this schema of the backup (repeatable; default: all of them).
    #[arg(long = "schema", value_name = "SCHEMA")]
    schemas: Vec<String>,
    /// MySQL: create views, routines, triggers and events as recorded (keep), as the restoring
    /// account (current), or as user@host.
    #[arg(long, value_name = "keep|current|USER@HOST")]
    definer: Option<String>,
    /// Leave out ALTER ... OWNER TO: every object is owned by the restoring user.
    #[arg(long)]
    no_owner: bool,
    /// Leave out GRANT/REVOKE and default privileges.
    #[arg(long)]
    no_privileges: bool,
    #[command(flatten)]
    store: StoreArgs,
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct VerifyArgs {
    /// Manifest URL (…/manifest.json) or the backup's directory URL.
    #[arg(long)]
    from: String,
    #[command(flatten)]
    store: StoreArgs,
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct ListArgs {
    /// Destination URL the backups were written to.
    #[arg(long)]
    to: String,
    #[command(flatten)]
    store: StoreArgs,
    #[arg(long)]
    json: bool,
}

#[derive(Args, Clone)]
struct StoreArgs {
    /// Multipart part size (5MiB..5GiB).
    #[arg(long, value_parser = plan::parse_size, global = true)]
    part_size: Option<u64>,
    /// Parts uploading at once per object.
    #[arg(long, global = true)]
    parts_in_flight: Option<usize>,
    /// S3 endpoint URL (default: AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL / AWS).
    #[arg(long, global = true)]
    endpoint: Option<String>,
    /// Path-style S3 addressing (for most S3-compatible servers).
    #[arg(long, global = true)]
    path_style: bool,
    /// Server-side encryption: s3 (SSE-S3, default), kms, or none.
    #[arg(long, global = true, default_value = "s3")]
    sse: String,
    /// KMS key id for --sse kms (default: the bucket's AWS managed key).
    #[arg(long, global = true)]
    kms_key_id: Option<String>,
}

impl StoreArgs {
    fn options(&self) -> anyhow::Result<StoreOptions> {
        let mut options = StoreOptions::default();
        if let Some(size) = self.part_size {
            options.part_size = usize::try_from(size).context("part size too large")?;
        }
        if let Some(n) = self.parts_in_flight {
            options.parts_in_flight = n;
        }
        let sse = ServerSideEncryption::parse(&self.sse, self.kms_key_id.clone())?;
        options.s3 = S3Options {
            path_style: self.path_style,
            sse,
            endpoint: self.endpoint.clone(),
            ..S3Options::default()
        };
        Ok(options)
    }
}

/// Progress bar on a terminal: tables done, bytes against the planned total, rate. A backup's
/// total is the tables' on-disk size, an estimate of the bytes it reads (shown as `~`); a
/// restore's is the manifest's exact raw byte count. The bar takes the width the rest leaves.
struct Bar {
    bar: ProgressBar,
    /// The template once the total is known.
    with_total: String,
    tables: AtomicU64,
    done: AtomicU64,
}

impl Bar {
    fn observer(verb: &'static str, total_is_estimate: bool) -> Arc<dyn Observer> {
        if !std::io::stderr().is_terminal() {
            return Arc::new(Quiet);
        }
        let bar = ProgressBar::no_length();
        bar.set_style(Self::style(&format!(
            "{verb} {{msg}} [{{elapsed_precise}}] {{bytes}} ({{bytes_per_sec}})"
        )));
        bar.enable_steady_tick(Duration::from_millis(200));
        let about = if total_is_estimate { "~" } else { "" };
        let with_total = format!(
            "{verb} {{msg}} [{{wide_bar}}] {{bytes}}/{about}{{total_bytes}} {{bytes_per_sec}} \
             {{elapsed}}"
        );
        Arc::new(Bar { bar, with_total, tables: AtomicU64::new(0), done: AtomicU64::new(0) })
    }

    fn style(template: &str) -> ProgressStyle {
        ProgressStyle::with_template(template)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ")
    }
}

impl Observer for Bar {
    fn planned(&self, tables: usize, estimated_bytes: u64) {
        self.tables.store(tables as u64, Ordering::Relaxed);
        self.bar.set_message(format!("0/{tables} tables"));
        if estimated_bytes > 0 {
            self.bar.set_length(estimated_bytes);
            self.bar.set_style(Self::style(&self.with_total));
        }
    }
    fn raw_bytes(&self, bytes: u64) {
        self.bar.inc(bytes);
    }
    fn table_done(&self, _table: &str, _rows: u64) {
        let done = self.done.fetch_add(1, Ordering::Relaxed) + 1;
        let total = self.tables.load(Ordering::Relaxed);
        self.bar.set_message(format!("{done}/{total} tables"));
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// `1 table`, `2 tables`: a count with its noun (`noun` + "s" when it is not one).
fn count(n: u64, noun: &str) -> String {
    if n == 1 { format!("1 {noun}") } else { format!("{n} {noun}s") }
}

fn print_json<T: Serialize>(value: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

async fn run(cli: Cli) -> anyhow::Result<bool> {
    match cli.command {
        Command::Backup(args) => {
            let request = BackupRequest {
                source: args.source,
                destination: args.to,
                schemas: args.schemas,
                exclude_tables: args.exclude_tables,
                jobs: args.jobs,
                chunk_bytes: args.chunk_size,
                zstd_level: args.zstd_level,
                store: args.store.options()?,
                skip_unsupported: args.skip_unsupported,
                ..BackupRequest::default()
            };
            let plan = request.plan()?;
            let observer = if args.json {
                Arc::new(Quiet) as Arc<dyn Observer>
            } else {
                Bar::observer("backup", true)
            };
            let report = backup::run(&plan, observer).await?;
            if args.json {
                print_json(&report)?;
            } else {
                println!(
                    "backup {} of {}: {}, {}, {} raw -> {} stored in {:.1}s ({:.0} MB/s)\nmanifest: {}",
                    report.backup_id,
                    report.database,
                    count(report.tables, "table"),
                    count(report.rows, "row"),
                    mib(report.raw_bytes),
                    mib(report.stored_bytes),
                    report.duration_secs,
                    report.raw_bytes as f64 / 1e6 / report.duration_secs.max(1e-9),
                    report.manifest
                );
                for s in &report.skipped {
                    println!("skipped: {s}");
                }
            }
            Ok(true)
        }
        Command::Restore(args) => {
            let request = RestoreRequest {
                from: args.from,
                target: args.target,
                jobs: args.jobs,
                replace: args.replace,
                create: args.create,
                schemas: args.schemas,
                definer: args.definer,
                no_owner: args.no_owner,
                no_privileges: args.no_privileges,
                store: args.store.options()?,
                ..RestoreRequest::default()
            };
            let plan = request.plan()?;
            let observer = if args.json {
                Arc::new(Quiet) as Arc<dyn Observer>
            } else {
                Bar::observer("restore", false)
            };
            let report = restore::run(&plan, observer).await?;
            if args.json {
                print_json(&report)?;
            } else {
                println!(
                    "restored {} into {}: {}, {}, {} in {:.1}s",
                    report.backup_id,
                    report.target,
                    count(report.tables, "table"),
                    count(report.rows, "row"),
                    count(report.sequences, "sequence"),
                    report.duration_secs
                );
            }
            Ok(true)
        }
        Command::Verify(args) => {
            let (backup, key) = plan::manifest_location(&args.from)?;
            let report = verify::verify(&backup, &key, &args.store.options()?).await?;
            let ok = report.failures.is_empty();
            if !ok {
                let first = &report.failures[0];
                eprintln!(
                    "error: verify failed: {} of {} objects do not match the manifest; first: {}",
                    report.failures.len(),
                    report.objects,
                    first.error
                );
            }
            if args.json {
                print_json(&report)?;
            } else {
                for f in &report.failures {
                    println!("FAILED {}: {}", f.key, f.error);
                }
                println!(
                    "{} {}: {} objects, {} rows, {} stored{}",
                    if ok { "verified" } else { "NOT verified" },
                    report.backup_id,
                    report.objects,
                    report.rows,
                    mib(report.stored_bytes),
                    if ok { String::new() } else { format!(", {} failed", report.failures.len()) }
                );
            }
            Ok(ok)
        }
        Command::List(args) => {
            let location = Location::parse(&args.to)?;
            let report = verify::list(&location, &args.store.options()?).await?;
            if args.json {
                print_json(&report)?;
            } else {
                println!(
                    "{:<22} {:<20} {:<20} {:>7} {:>12} {:>12}",
                    "BACKUP", "DATABASE", "FINISHED", "TABLES", "ROWS", "STORED"
                );
                for b in &report.backups {
                    println!(
                        "{:<22} {:<20} {:<20} {:>7} {:>12} {:>12}",
                        b.backup_id,
                        b.database,
                        b.finished_at.format("%Y-%m-%d %H:%M:%S"),
                        b.tables,
                        b.rows,
                        mib(b.stored_bytes)
                    );
                }
                for u in &report.unreadable {
                    println!("unreadable manifest {}: {}", u.key, u.error);
                }
            }
            Ok(true)
        }
    }
}

fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
}

fn main() -> ExitCode {
    streamdump::bound_allocator_memory();
    // `streamdump list | head` should end quietly, as other command-line tools do, instead of
    // panicking in println! on the closed pipe. Rust ignores SIGPIPE by default.
    #[cfg(unix)]
    // SAFETY: restoring the default disposition of one signal, before any thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    init_logging(cli.verbose);
    let json = match &cli.command {
        Command::Backup(a) => a.json,
        Command::Restore(a) => a.json,
        Command::Verify(a) => a.json,
        Command::List(a) => a.json,
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            // One line, the cause first; the chain only adds context the cause lacks.
            eprintln!("error: {e:#}");
            if json {
                let kind =
                    e.downcast_ref::<streamdump::Error>().map_or("Error", streamdump::Error::kind);
                let body =
                    serde_json::json!({"error": {"type": kind, "message": format!("{e:#}")}});
                println!("{body}");
            }
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::count;

    #[test]
    fn summaries_count_in_the_singular_only_for_one() {
        assert_eq!(count(1, "table"), "1 table");
        assert_eq!(count(0, "table"), "0 tables");
        assert_eq!(count(7, "row"), "7 rows");
    }
}
