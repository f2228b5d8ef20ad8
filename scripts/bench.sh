#!/usr/bin/env bash
# scripts/bench.sh -- end-to-end benchmark of streamdump against the PostgreSQL tools.
#
#   scripts/dev.sh bench [ROWS...]        (install + services up + env, then this script)
#   scripts/bench.sh [ROWS...]            (services already up; sources .services/env if needed)
#
# For each size (rows of the `orders` table) it builds database bench_<rows> -- `orders`
# (ids, md5 text, timestamps, numerics, short random notes; ~150 B of COPY text per row,
# compresses ~2.8x) plus `order_events` (rows/3, different columns: bigint, text, timestamptz,
# boolean, uuid, jsonb) so that --jobs 2 has two tables -- unless it already exists with the
# right row counts, and then measures, every figure from this same run:
#
#   backup:  raw `COPY ... TO STDOUT > /dev/null` (both tables one after the other, and both at
#            once), `pg_dump -Fc`, `pg_dump -Fp | zstd -LEVEL -T1`, `streamdump backup` to a local
#            directory and to S3 (SeaweedFS)
#   restore: `pg_restore -j JOBS` of the -Fc dump (and + ANALYZE, which streamdump restore does),
#            `streamdump restore --jobs JOBS` from the local and from the S3 backup, each into an
#            empty database created (untimed) just before
#
# Each under `/usr/bin/time -v` (wall time, peak RSS of the largest client-side process; the
# PostgreSQL server's own memory is never counted). Before every measurement it waits (up to
# 3 min) for the 1-minute load average to drop below LOAD_MAX and prints the load next to the
# figure. The tables go to stdout and to bench-out/results-<date>.md.
#
# Environment:
#   SIZES="2000000 7000000"  orders rows per database (positional ROWS override it)
#   LEVEL=<n>     zstd level for `zstd -n` and `streamdump --zstd-level n`
#                 (default: DEFAULT_ZSTD_LEVEL from src/codec.rs, streamdump then runs with defaults)
#   JOBS=2        pg_restore -j / streamdump --jobs (backup and restore)
#   REPEAT=3      rounds of the compared runs (backup: raw COPY, pg_dump|zstd, streamdump -> file
#                 and s3; restore: pg_restore, streamdump <- file and s3): each tool runs once per
#                 round, the tables show medians and every run's wall
#   RESTORE_REPEAT=$REPEAT  rounds of the restores alone (restore times vary more than backups')
#   RESTORE_FROM="file s3"  which streamdump backups to restore from in those rounds
#   CLEAN=1       drop the bench_<rows> databases at the end (default: keep them for the next run)
#   LOAD_MAX=0.7  LOAD_WAIT=180  load threshold and the longest wait for it, in seconds
#   TOP=1         print `top -H` of the streamdump process during the backups (costs a little CPU)
#   SCRATCH_DIR   where dumps are written (default bench-out/scratch.<pid>; removed at the end)
set -euo pipefail

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd -- "$SCRIPT_DIR/.." && pwd)
OUT_DIR="$REPO/bench-out"

say() { printf '[bench] %s\n' "$*" >&2; }
die() { printf 'bench.sh: error: %s\n' "$*" >&2; exit 1; }
# shellcheck source=scripts/bench-lib.sh
source "$SCRIPT_DIR/bench-lib.sh"

case ${1:-} in
  -h | --help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
esac

# ---------------------------------------------------------------- configuration
if [[ -z ${STREAMDUMP_TEST_PG:-} || -z ${AWS_ACCESS_KEY_ID:-} || -z ${STREAMDUMP_TEST_S3_ENDPOINT:-} ]]; then
  [[ -f $REPO/.services/env ]] || die "no service environment: run scripts/dev.sh up (or scripts/dev.sh bench)"
  # shellcheck disable=SC1091
  source "$REPO/.services/env"
fi
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
PG_URL=${STREAMDUMP_TEST_PG:-postgres://postgres@127.0.0.1:55432/postgres}
bench_settings "$@"
RESTORE_REPEAT=${RESTORE_REPEAT:-$REPEAT}
[[ $RESTORE_REPEAT =~ ^[1-9][0-9]*$ ]] || die "RESTORE_REPEAT '$RESTORE_REPEAT' is not a number"
RESTORE_FROM=${RESTORE_FROM:-file s3}
for from in $RESTORE_FROM; do [[ $from == file || $from == s3 ]] || die "RESTORE_FROM: '$from' is neither file nor s3"; done
[[ " $RESTORE_FROM " == *" file "* ]] || die "RESTORE_FROM must include file (the restore target compares it)"

# postgres://user[:password]@host:port/db
[[ $PG_URL =~ ^postgres(ql)?://([^@/]+)@([^:/]+):([0-9]+)(/.*)?$ ]] || die "cannot parse STREAMDUMP_TEST_PG=$PG_URL"
PG_AUTH=${BASH_REMATCH[2]}
export PGHOST=${BASH_REMATCH[3]} PGPORT=${BASH_REMATCH[4]} PGUSER=${PG_AUTH%%:*}
[[ $PG_AUTH == *:* ]] && export PGPASSWORD=${PG_AUTH#*:}
# Plain TCP for every tool alike (the test server also offers TLS): the benchmark measures the
# dump pipelines, not the cipher.
export PGSSLMODE=disable
db_url() { printf 'postgres://%s@%s:%s/%s?sslmode=disable' "$PG_AUTH" "$PGHOST" "$PGPORT" "$1"; }
psql_() { "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 "$@"; }

for t in /usr/bin/time zstd curl "$PGBIN/psql" "$PGBIN/pg_dump" "$PGBIN/pg_restore" "$AWS_CLI" jq awk; do
  command -v "$t" >/dev/null 2>&1 || die "missing $t (scripts/dev.sh install)"
done
psql_ -d postgres -Atc 'select 1' >/dev/null || die "PostgreSQL at $PGHOST:$PGPORT does not answer"

RUN_ID="$(date -u +%Y%m%dT%H%M%SZ)-$$"
SCRATCH=${SCRATCH_DIR:-$OUT_DIR/scratch.$$}
S3_PREFIX="bench-$RUN_ID"
RESTORED=()   # databases created by restores, dropped on exit
mkdir -p -- "$OUT_DIR" "$SCRATCH"

aws_() {
  env -u AWS_PROFILE -u AWS_DEFAULT_PROFILE "$AWS_CLI" --endpoint-url "$S3_ENDPOINT" --region "${AWS_REGION:-us-east-1}" "$@"
}
drop_db() {
  psql_ -d postgres -c 'SET client_min_messages = warning' -c "DROP DATABASE IF EXISTS \"$1\" WITH (FORCE)" >/dev/null
}

cleanup() {
  local rc=$? db
  trap - EXIT
  set +e
  [[ -n ${TOP_PID:-} ]] && kill "$TOP_PID" 2>/dev/null
  for db in "${RESTORED[@]}"; do drop_db "$db"; done
  if [[ $CLEAN == 1 ]]; then
    for n in $SIZES; do say "CLEAN=1: dropping bench_$n"; drop_db "bench_$n"; done
  fi
  rm -rf -- "$SCRATCH"
  aws_ s3 rm --recursive --quiet "s3://$S3_BUCKET/$S3_PREFIX/" >/dev/null 2>&1 \
    || say "warning: could not remove s3://$S3_BUCKET/$S3_PREFIX/"
  # SeaweedFS (scripts/dev.sh) keeps emptied prefixes as directories; drop ours via its filer.
  if [[ $S3_ENDPOINT == http://127.0.0.1:18333 ]]; then
    curl -s -o /dev/null --max-time 10 -X DELETE "http://127.0.0.1:18888/buckets/$S3_BUCKET/$S3_PREFIX?recursive=true"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------- measuring
# Rows of the results: one tab-separated record per measurement.
BACKUP_ROWS=()
RESTORE_ROWS=()
# record_backup ROWS TOOL OUTPUT_BYTES
record_backup() {
  BACKUP_ROWS+=("$1"$'\t'"$2"$'\t'"$M_WALL"$'\t'"$3"$'\t'"$M_RSS"$'\t'"$M_CPU"$'\t'"$M_LOAD"$'\t'"${M_RUNS:--}")
  say "$(printf '%-8s %-34s %8ss %12s B out  %7.1f MiB RSS  cpu %5s  load %s  runs %s' "$1" "$2" "$M_WALL" "$3" \
    "$(awk -v k="$M_RSS" 'BEGIN { print k / 1024 }')" "$M_CPU" "$M_LOAD" "${M_RUNS:--}")"
}
# record_restore ROWS TOOL ROWS_OK [WALL_OVERRIDE]
record_restore() {
  local wall=${4:-$M_WALL}
  RESTORE_ROWS+=("$1"$'\t'"$2"$'\t'"$wall"$'\t'"$3"$'\t'"$M_RSS"$'\t'"$M_CPU"$'\t'"$M_LOAD"$'\t'"${M_RUNS:--}")
  say "$(printf '%-8s %-34s %8ss  rows %-3s  %7.1f MiB RSS  cpu %5s  load %s' "$1" "$2" "$wall" "$3" \
    "$(awk -v k="$M_RSS" 'BEGIN { print k / 1024 }')" "$M_CPU" "$M_LOAD")"
}


# ---------------------------------------------------------------- data
# Version of the generator below; a database built by another version is rebuilt.
DATA_VERSION=1
orders_sql() { # orders_sql ROWS
  cat <<SQL
SET synchronous_commit = off;
CREATE TABLE orders AS SELECT i AS id, (random()*100000)::int AS customer_id, md5(i::text) AS sku,
  now() - random()*interval '1000 days' AS created_at, (random()*10000)::numeric(12,2) AS amount,
  (array['new','paid','shipped','cancelled'])[1+(random()*3)::int] AS status,
  'customer note ' || substr(md5(random()::text),1,(random()*32)::int) || ' lorem ipsum dolor sit amet' AS note
FROM generate_series(1, $1) i;
ALTER TABLE orders ADD PRIMARY KEY (id);
CREATE TABLE order_events AS SELECT i::bigint AS event_id, (1 + random()*($1 - 1))::int AS order_id,
  (array['created','payment_authorized','payment_captured','packed','shipped','delivered','refund_requested'])[1+(random()*6)::int] AS event_type,
  now() - random()*interval '1000 days' AS occurred_at,
  random() < 0.97 AS succeeded,
  md5(random()::text)::uuid AS request_id,
  jsonb_build_object('ip', '10.' || (random()*255)::int || '.' || (random()*255)::int || '.' || (random()*255)::int,
                     'qty', 1 + (random()*9)::int,
                     'channel', (array['web','ios','android','api'])[1+(random()*3)::int]) AS payload
FROM generate_series(1, $(($1 / 3))) i;
ALTER TABLE order_events ADD PRIMARY KEY (event_id);
COMMENT ON DATABASE bench_$1 IS 'streamdump bench data v$DATA_VERSION rows=$1';
SQL
}

ensure_db() { # ensure_db ROWS
  local n=$1 db="bench_$1" events=$(($1 / 3)) have comment t0
  comment=$(psql_ -d postgres -Atc "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = '$db'")
  if [[ $comment == "streamdump bench data v$DATA_VERSION rows=$n" ]]; then
    have=$(psql_ -d "$db" -Atc "SELECT (SELECT count(*) FROM orders) || ' ' || (SELECT count(*) FROM order_events)" 2>/dev/null || true)
    if [[ $have == "$n $events" ]]; then
      say "$db: reusing ($n orders, $events order_events)"
      return
    fi
    say "$db: has '$have' rows, expected '$n $events': rebuilding"
  fi
  say "$db: building $n orders + $events order_events rows (takes a while)"
  t0=$SECONDS
  drop_db "$db"
  psql_ -d postgres -c "CREATE DATABASE $db TEMPLATE template0"
  orders_sql "$n" | psql_ -d "$db"
  psql_ -d "$db" -c 'VACUUM ANALYZE' -c 'CHECKPOINT'
  say "$db: built in $((SECONDS - t0))s, $(psql_ -d postgres -Atc "SELECT pg_size_pretty(pg_database_size('$db'))") on disk"
}

# ---------------------------------------------------------------- run
say "building: cargo build --release --bin streamdump"
(cd -- "$REPO" && cargo build --release --bin streamdump)
# A private copy, so a colleague's rebuild cannot swap the binary during the run.
BIN="$SCRATCH/streamdump"
cp -- "${CARGO_TARGET_DIR:-$REPO/target}/release/streamdump" "$BIN"
GIT_REV=$(cd -- "$REPO" && git rev-parse --short HEAD 2>/dev/null || echo '?')
GIT_DIRTY=$(cd -- "$REPO" && git status --porcelain --untracked-files=no 2>/dev/null | wc -l)
say "run $RUN_ID: sizes [$SIZES], zstd level $LEVEL (default $DEFAULT_LEVEL), jobs $JOBS, git $GIT_REV (+$GIT_DIRTY modified files)"

declare -A RAW_BYTES=()
for n in $SIZES; do
  db="bench_$n"
  ensure_db "$n"
  src=$(db_url "$db")
  # Untimed pass: warms the page cache and counts the raw COPY bytes.
  o=$(psql_ -d "$db" -c 'COPY orders TO STDOUT' | wc -c)
  e=$(psql_ -d "$db" -c 'COPY order_events TO STDOUT' | wc -c)
  RAW_BYTES[$n]=$((o + e))
  say "$db: raw COPY text: orders $o B, order_events $e B, total ${RAW_BYTES[$n]} B"

  # pg_dump -Fc (default compression: gzip level 6 in PostgreSQL 15): measured once, it is slow
  # and is not a target; its dump feeds pg_restore below.
  M_RUNS=""
  measure /dev/null "$PGBIN/pg_dump" -d "$db" -Fc -f "$SCRATCH/$db.dump"
  record_backup "$n" "pg_dump -Fc" "$(stat -c %s "$SCRATCH/$db.dump")"

  # The tools the targets compare, REPEAT rounds of each once (medians are reported).
  # (the bash -c scripts below get their arguments as $0 $1 ..., hence single quotes)
  for ((round = 1; round <= REPEAT; round++)); do
    say "$db: backup round $round of $REPEAT"
    # 1. raw COPY, one table after the other (one connection at a time), and both at once.
    # shellcheck disable=SC2016
    sample copy /dev/null bash -c '"$0" -X -q -d "$1" -c "COPY orders TO STDOUT" >/dev/null &&
        "$0" -X -q -d "$1" -c "COPY order_events TO STDOUT" >/dev/null' "$PGBIN/psql" "$db"
    # shellcheck disable=SC2016
    sample copy2 /dev/null bash -c '"$0" -X -q -d "$1" -c "COPY orders TO STDOUT" >/dev/null & a=$!
        "$0" -X -q -d "$1" -c "COPY order_events TO STDOUT" >/dev/null; b=$?; wait $a && exit $b' "$PGBIN/psql" "$db"

    # 2. pg_dump -Fp | zstd (pg_dump 15 has no zstd of its own)
    # shellcheck disable=SC2016
    sample pgzstd /dev/null bash -c 'set -o pipefail; "$0" -d "$1" -Fp | zstd -q -"$2" -T1 >"$3"' \
      "$PGBIN/pg_dump" "$db" "$LEVEL" "$SCRATCH/$db.sql.zst"
    zstd_out=$(stat -c %s "$SCRATCH/$db.sql.zst")
    rm -f -- "$SCRATCH/$db.sql.zst"

    # 3. streamdump backup, local directory and S3 (every round a new backup beside the last)
    [[ $TOP == 1 && $round == 1 ]] && watch_threads "$BIN backup --source $src --to file://" "streamdump backup (file)"
    sample file "$SCRATCH/backup-file.json" "$BIN" backup --source "$src" --to "file://$SCRATCH/sd" \
      --jobs "$JOBS" "${LEVEL_ARGS[@]}" --json
    end_watch
    [[ $TOP == 1 && $round == 1 ]] && watch_threads "$BIN backup --source $src --to s3://" "streamdump backup (s3)"
    sample s3 "$SCRATCH/backup-s3.json" "$BIN" backup --source "$src" --to "s3://$S3_BUCKET/$S3_PREFIX/$n" \
      --endpoint "$S3_ENDPOINT" --path-style --jobs "$JOBS" "${LEVEL_ARGS[@]}" --json
    end_watch
  done
  settle copy; record_backup "$n" "raw COPY > /dev/null" 0
  settle copy2; record_backup "$n" "raw COPY, 2 tables at once" 0
  settle pgzstd; record_backup "$n" "pg_dump -Fp | zstd -$LEVEL -T1" "$zstd_out"
  stored=$(jq -r .stored_bytes "$SCRATCH/backup-file.json")
  sd_raw=$(jq -r .raw_bytes "$SCRATCH/backup-file.json")
  manifest_file=$(jq -r .manifest "$SCRATCH/backup-file.json")
  [[ $sd_raw == "${RAW_BYTES[$n]}" ]] || say "warning: streamdump raw_bytes $sd_raw != psql COPY bytes ${RAW_BYTES[$n]}"
  settle file; record_backup "$n" "streamdump backup -> file" "$stored"
  manifest_s3=$(jq -r .manifest "$SCRATCH/backup-s3.json")
  settle s3; record_backup "$n" "streamdump backup -> s3" "$(jq -r .stored_bytes "$SCRATCH/backup-s3.json")"
  M_RUNS=""

  # 5. restore into fresh databases
  check_rows() { # check_rows DB -> yes/NO
    local got
    got=$(psql_ -d "$1" -Atc "SELECT (SELECT count(*) FROM orders) || ' ' || (SELECT count(*) FROM order_events)")
    if [[ $got == "$n $((n / 3))" ]]; then echo yes; else echo "NO ($got)"; fi
  }
  # REPEAT rounds: pg_restore, then streamdump from the local and from the S3 backup.
  ok_pgr=yes ok_file=yes ok_s3=yes
  for ((round = 1; round <= RESTORE_REPEAT; round++)); do
    say "$db: restore round $round of $RESTORE_REPEAT"
    target="${db}_pgr"
    drop_db "$target"; RESTORED+=("$target")
    psql_ -d postgres -c "CREATE DATABASE $target TEMPLATE template0"
    sample pgr /dev/null "$PGBIN/pg_restore" -j "$JOBS" -d "$target" "$SCRATCH/$db.dump"
    [[ $(check_rows "$target") == yes ]] || ok_pgr=$(check_rows "$target")
    # streamdump restore ends with ANALYZE; pg_restore does not. Timed right after, no wait.
    t0=$EPOCHREALTIME
    psql_ -d "$target" -c 'ANALYZE'
    S_WALL["pgra"]+="$(awk -v a="$t0" -v b="$EPOCHREALTIME" -v w="$M_WALL" 'BEGIN { printf "%.2f", w + b - a }') "
    S_RSS["pgra"]+="$M_RSS "; S_CPU["pgra"]+="${M_CPU%\%} "; S_LOAD["pgra"]+="$M_LOAD "
    # settle reads every sample list; pg_restore's CPU stands for the pair (psql's is small).
    S_CSEC["pgra"]+="$M_CSEC "; S_SSEC["pgra"]+="$M_SSEC "
    drop_db "$target"

    for from in $RESTORE_FROM; do
      target="${db}_sdr_$from"
      manifest=$manifest_file
      [[ $from == s3 ]] && manifest=$manifest_s3
      # Into an empty database created untimed, as for pg_restore above.
      drop_db "$target"; RESTORED+=("$target")
      psql_ -d postgres -c "CREATE DATABASE $target TEMPLATE template0"
      [[ $TOP == 1 && $round == 1 ]] && watch_threads "$BIN restore --from $manifest" "streamdump restore ($from)"
      sample "r$from" /dev/null "$BIN" restore --from "$manifest" --target "$(db_url "$target")" \
        --jobs "$JOBS" --endpoint "$S3_ENDPOINT" --path-style --json
      end_watch
      got=$(check_rows "$target")
      if [[ $got != yes ]]; then
        if [[ $from == file ]]; then ok_file=$got; else ok_s3=$got; fi
      fi
      drop_db "$target"
    done
  done
  rm -f -- "$SCRATCH/$db.dump"
  settle pgr; record_restore "$n" "pg_restore -j $JOBS" "$ok_pgr"
  settle pgra; record_restore "$n" "pg_restore -j $JOBS + ANALYZE" "$ok_pgr"
  settle rfile; record_restore "$n" "streamdump restore <- file" "$ok_file"
  if [[ " $RESTORE_FROM " == *" s3 "* ]]; then
    settle rs3; record_restore "$n" "streamdump restore <- s3" "$ok_s3"
  fi
  M_RUNS=""
  rm -rf -- "$SCRATCH/sd"
  aws_ s3 rm --recursive --quiet "s3://$S3_BUCKET/$S3_PREFIX/$n/" >/dev/null 2>&1 || true
done

# ---------------------------------------------------------------- report
# Reference walls per size: raw COPY (one after the other), pg_dump | zstd, pg_restore.
ref() { # ref ROWS TOOL-PREFIX [FIELD] (from the backup or restore rows given on stdin; 3 = wall)
  awk -F'\t' -v n="$1" -v t="$2" -v f="${3:-3}" '$1 == n && index($2, t) == 1 { print $f; exit }'
}
report() {
  local n rec raw wall copy_wall zstd_wall pgr_wall
  echo "## streamdump benchmark $RUN_ID"
  echo
  echo "git $GIT_REV (+$GIT_DIRTY modified files), zstd level $LEVEL (crate default $DEFAULT_LEVEL), jobs $JOBS," \
    "$(nproc) CPUs, $("$PGBIN/postgres" --version), $(zstd --version | head -n1)."
  echo "MB/s = raw COPY text bytes (both tables) / wall time; 'x COPY', 'x pg_dump|zstd', 'x pg_restore' = speed relative to that tool (>1 = faster)."
  echo "Peak RSS = largest client-side process (/usr/bin/time -v); PostgreSQL server memory not counted. load = 1-min load average just before the run."
  echo
  for n in $SIZES; do
    echo "- bench_$n: $n orders + $((n / 3)) order_events rows, raw COPY text $(awk -v b="${RAW_BYTES[$n]}" 'BEGIN { printf "%.1f MB", b / 1e6 }')"
  done
  echo
  echo "### Backup"
  echo
  echo "| rows | tool | wall s | MB/s | x COPY | x pg_dump\|zstd | output bytes | raw/output | peak RSS MiB | client CPU | load | every run, s |"
  echo "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
  for rec in "${BACKUP_ROWS[@]}"; do
    IFS=$'\t' read -r n tool wall out rss cpu load runs <<<"$rec"
    raw=${RAW_BYTES[$n]}
    copy_wall=$(printf '%s\n' "${BACKUP_ROWS[@]}" | ref "$n" "raw COPY > /dev/null")
    zstd_wall=$(printf '%s\n' "${BACKUP_ROWS[@]}" | ref "$n" "pg_dump -Fp | zstd")
    awk -v n="$n" -v tool="$tool" -v w="$wall" -v raw="$raw" -v out="$out" -v rss="$rss" -v cpu="$cpu" \
      -v ld="$load" -v cw="$copy_wall" -v zw="$zstd_wall" -v runs="$runs" 'BEGIN {
        gsub(/\|/, "\\|", tool)
        printf "| %d | %s | %.2f | %.0f | %.2f | %s | %s | %s | %.1f | %s | %s | %s |\n", n, tool, w, raw / 1e6 / w,
          cw / w, (zw == "" ? "-" : sprintf("%.2f", zw / w)), (out > 0 ? out : "-"),
          (out > 0 ? sprintf("%.2f", raw / out) : "-"), rss / 1024, cpu, ld, runs }'
  done
  echo
  echo "### Restore"
  echo
  echo "| rows | tool | wall s | MB/s | x pg_restore | peak RSS MiB | client CPU | rows match | load | every run, s |"
  echo "|---:|---|---:|---:|---:|---:|---:|---|---:|---|"
  for rec in "${RESTORE_ROWS[@]}"; do
    IFS=$'\t' read -r n tool wall ok rss cpu load runs <<<"$rec"
    raw=${RAW_BYTES[$n]}
    pgr_wall=$(printf '%s\n' "${RESTORE_ROWS[@]}" | ref "$n" "pg_restore -j $JOBS")
    awk -v n="$n" -v tool="$tool" -v w="$wall" -v raw="$raw" -v rss="$rss" -v cpu="$cpu" -v ok="$ok" \
      -v ld="$load" -v pw="$pgr_wall" -v runs="$runs" 'BEGIN {
        printf "| %d | %s | %.2f | %.0f | %.2f | %.1f | %s | %s | %s | %s |\n", n, tool, w, raw / 1e6 / w, pw / w,
          rss / 1024, cpu, ok, ld, runs }'
  done
  echo
  echo "### Targets"
  echo
  local sizes sd_rss=() sd_file cw zw pw sr pruns sruns
  read -r -a sizes <<<"$SIZES"
  for n in $SIZES; do
    sd_file=$(printf '%s\n' "${BACKUP_ROWS[@]}" | ref "$n" "streamdump backup -> file")
    cw=$(printf '%s\n' "${BACKUP_ROWS[@]}" | ref "$n" "raw COPY > /dev/null")
    zw=$(printf '%s\n' "${BACKUP_ROWS[@]}" | ref "$n" "pg_dump -Fp | zstd")
    pw=$(printf '%s\n' "${RESTORE_ROWS[@]}" | ref "$n" "pg_restore -j $JOBS")
    sr=$(printf '%s\n' "${RESTORE_ROWS[@]}" | ref "$n" "streamdump restore <- file")
    # Restore rounds pair up: pg_restore and streamdump ran one after the other in each.
    pruns=$(printf '%s\n' "${RESTORE_ROWS[@]}" | ref "$n" "pg_restore -j $JOBS" 8)
    sruns=$(printf '%s\n' "${RESTORE_ROWS[@]}" | ref "$n" "streamdump restore <- file" 8)
    awk -v n="$n" -v s="$sd_file" -v c="$cw" -v z="$zw" -v p="$pw" -v r="$sr" -v pr="$pruns" -v sr="$sruns" 'BEGIN {
      printf "- %d rows: backup (file) vs pg_dump -Fp|zstd: %.2fx (target >= 1.00) %s\n", n, z / s, (z / s >= 1 ? "PASS" : "FAIL")
      printf "- %d rows: backup (file) vs raw COPY: %.2fx (target >= 0.80) %s\n", n, c / s, (c / s >= 0.8 ? "PASS" : "FAIL")
      printf "- %d rows: restore (file) vs pg_restore -j: %.2fx (target >= 1.00) %s\n", n, p / r, (p / r >= 1 ? "PASS" : "FAIL")
      k = split(pr, pa, "/"); split(sr, sa, "/"); line = ""; faster = 0
      for (i = 1; i <= k; i++) { x = pa[i] / sa[i]; faster += (x >= 1); line = line (i > 1 ? "/" : "") sprintf("%.2f", x) }
      printf "- %d rows: restore vs pg_restore -j per round: %s (streamdump no slower in %d of %d)\n", n, line, faster, k
    }'
  done
  for rec in "${BACKUP_ROWS[@]}" "${RESTORE_ROWS[@]}"; do
    IFS=$'\t' read -r n tool _ _ rss _ _ <<<"$rec"
    [[ $tool == streamdump* ]] && sd_rss+=("$n $tool $rss")
  done
  printf '%s\n' "${sd_rss[@]}" | awk -v first="${sizes[0]}" -v last="${sizes[-1]}" '
    { tool = $2; for (i = 3; i < NF; i++) tool = tool " " $i; rss = $NF / 1024
      if (rss > max) max = rss
      if (!(tool in seen)) { seen[tool] = 1; order[++tools] = tool }
      if ($1 == first) a[tool] = rss; if ($1 == last) b[tool] = rss }
    END {
      printf "- streamdump peak RSS: max %.1f MiB (target < 128) %s\n", max, (max < 128 ? "PASS" : "FAIL")
      if (first != last) for (i = 1; i <= tools; i++) if ((t = order[i]) in a && t in b)
        printf "- %s peak RSS %d -> %d rows: %.1f -> %.1f MiB (%+.0f%%; flat = within 10%% or 8 MiB) %s\n", t, first, last,
          a[t], b[t], (b[t] - a[t]) * 100 / a[t], ((b[t] - a[t] <= 8 || b[t] <= a[t] * 1.1) ? "PASS" : "FAIL")
    }'
}

RESULTS="$OUT_DIR/results-$(date +%Y-%m-%d-%H%M%S).md"
report | tee "$RESULTS"
say "results written to $RESULTS"
