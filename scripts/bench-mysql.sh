#!/usr/bin/env bash
# scripts/bench-mysql.sh -- end-to-end benchmark of streamdump against the MySQL/MariaDB tools.
#
#   scripts/bench-mysql.sh [ROWS...]      (services up: scripts/dev.sh up; sources .services/env
#                                          if needed)
#
# For each size (rows of the `orders` table) it builds database mybench_<rows> on the MariaDB of
# STREAMDUMP_TEST_MYSQL -- `orders` (ints, md5 text, datetime, decimal, short random notes, an
# 8-byte varbinary; ~145 B of TSV per row, compresses ~2.4x with zstd -1) plus `order_events`
# (rows/3, different columns: bigint, datetime(3), tinyint, uuid-like char, JSON, sparse text) so
# that --jobs 2 has two tables -- unless it already exists with the right row counts (InnoDB,
# generated server-side from the Sequence engine, binlog off for the build), and then measures,
# every figure from this same run:
#
#   backup:  raw `mariadb --quick -e 'SELECT * FROM t' > /dev/null` (both tables one after the
#            other, and both at once), `mariadb-dump --single-transaction --quick | zstd -LEVEL -T1`,
#            `mydumper -t JOBS -c` (mydumper 0.10 compresses with gzip), `mydumper -t JOBS`
#            (uncompressed) and `mydumper -t JOBS` followed by `zstd -LEVEL -T JOBS` of its files
#            (zstd output like streamdump's), `streamdump backup --jobs JOBS` to a local directory and to S3
#            (SeaweedFS)
#   restore: `zstd -dc dump | mariadb`, `myloader -t JOBS` of the gzip mydumper dump (myloader
#            turns the binary log off for its sessions by default) and `myloader -t JOBS -e`
#            (binary log on, as for the other tools), `streamdump restore --jobs JOBS --create`
#            from the local and from the S3 backup (streamdump ends with ANALYZE TABLE; the others
#            do not). Each restored database is checked (row counts and CHECKSUM TABLE against the
#            source) and dropped.
#
# Each under `/usr/bin/time -v` (wall time, peak RSS of the largest client-side process; the
# MariaDB server's own memory is never counted). Before every measurement it waits (up to 3 min)
# for the 1-minute load average to drop below LOAD_MAX and prints the load next to the figure.
# The tables go to stdout and to bench-out/mysql-results-<date>.md. Every tool connects as the
# user of STREAMDUMP_TEST_MYSQL over plain TCP; the password goes through a mode-600 defaults
# file in the scratch directory and STREAMDUMP_SOURCE/STREAMDUMP_TARGET, never a command line.
#
# Environment:
#   SIZES="2000000 7000000"  orders rows per database (positional ROWS override it)
#   MYSQL_URL     server to use (default: STREAMDUMP_TEST_MYSQL; its database part is ignored)
#   LEVEL=<n>     zstd level for `zstd -n` and `streamdump --zstd-level n`
#                 (default: DEFAULT_ZSTD_LEVEL from src/codec.rs, streamdump then runs with defaults)
#   JOBS=2        mydumper/myloader -t, streamdump --jobs (backup and restore)
#   REPEAT=3      rounds of the backups (each tool once per round, taking turns; the tables
#                 report medians and every run's wall time); restores run once each
#   STREAMDUMP_BIN  use this binary instead of building target/release/streamdump
#   CLEAN=1       drop the mybench_<rows> databases at the end (default: keep them for the next run)
#   LOAD_MAX=0.7  LOAD_WAIT=180  load threshold and the longest wait for it, in seconds
#   TOP=1         print `top -H` of the streamdump process during the runs (costs a little CPU)
#   SCRATCH_DIR   where dumps are written (default bench-out/scratch-mysql.<pid>; removed at the end)
#
# Restores write the binary log (MariaDB of scripts/dev.sh runs with --log-bin), except plain
# `myloader`: about the raw size of the data per restore. Against the throwaway server of
# scripts/dev.sh (127.0.0.1:53306) the script purges those logs at the end; any other server
# keeps them, as its own expiry settings say.
set -euo pipefail

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd -- "$SCRIPT_DIR/.." && pwd)
OUT_DIR="$REPO/bench-out"

say() { printf '[bench-mysql] %s\n' "$*" >&2; }
die() { printf 'bench-mysql.sh: error: %s\n' "$*" >&2; exit 1; }
# shellcheck source=scripts/bench-lib.sh
source "$SCRIPT_DIR/bench-lib.sh"

case ${1:-} in
  -h | --help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
esac

# ---------------------------------------------------------------- configuration
if [[ -z ${STREAMDUMP_TEST_MYSQL:-} || -z ${AWS_ACCESS_KEY_ID:-} || -z ${STREAMDUMP_TEST_S3_ENDPOINT:-} ]]; then
  [[ -f $REPO/.services/env ]] || die "no service environment: run scripts/dev.sh up"
  # shellcheck disable=SC1091
  source "$REPO/.services/env"
fi
MYSQL_URL=${MYSQL_URL:-${STREAMDUMP_TEST_MYSQL:-}}
[[ -n $MYSQL_URL ]] || die "no MySQL server: set MYSQL_URL or STREAMDUMP_TEST_MYSQL (scripts/dev.sh up)"
bench_settings "$@"

# mysql://user[:password]@host[:port][/db][?params]  (no percent-decoding: keep the test URL simple)
[[ $MYSQL_URL =~ ^(mysql|mariadb)://([^@/]+)@([^:/?]+)(:([0-9]+))?(/[^?]*)?(\?.*)?$ ]] \
  || die "cannot parse the MySQL URL (expected mysql://user:password@host:port/db)"
MY_AUTH=${BASH_REMATCH[2]}
MY_HOST=${BASH_REMATCH[3]}
MY_PORT=${BASH_REMATCH[5]:-3306}
MY_USER=${MY_AUTH%%:*}
MY_PASS=""
if [[ $MY_AUTH == *:* ]]; then MY_PASS=${MY_AUTH#*:}; fi
[[ $MY_AUTH != *%* ]] || die "percent-encoded user or password in the MySQL URL are not supported here"
# Plain TCP for every tool alike: the benchmark measures the dump pipelines, not the cipher.
db_url() { printf 'mysql://%s@%s:%s/%s?sslmode=disable' "$MY_AUTH" "$MY_HOST" "$MY_PORT" "$1"; }

for t in /usr/bin/time zstd curl mariadb mariadb-dump mydumper myloader "$AWS_CLI" jq awk; do
  command -v "$t" >/dev/null 2>&1 || die "missing $t (apt-get install -y mariadb-client mydumper zstd jq time; scripts/dev.sh install)"
done

RUN_ID="$(date -u +%Y%m%dT%H%M%SZ)-$$"
SCRATCH=${SCRATCH_DIR:-$OUT_DIR/scratch-mysql.$$}
S3_PREFIX="bench-mysql-$RUN_ID"
RESTORED=()   # databases created by restores, dropped on exit
mkdir -p -- "$OUT_DIR"
(umask 077 && mkdir -p -- "$SCRATCH")
SCRATCH_MADE=1

aws_() {
  env -u AWS_PROFILE -u AWS_DEFAULT_PROFILE "$AWS_CLI" --endpoint-url "$S3_ENDPOINT" --region "${AWS_REGION:-us-east-1}" "$@"
}
drop_db() { my -e "DROP DATABASE IF EXISTS \`$1\`"; }

cleanup() {
  local rc=$? db
  trap - EXIT
  set +e
  [[ -n ${TOP_PID:-} ]] && kill "$TOP_PID" 2>/dev/null
  if [[ -f ${CNF:-/nonexistent} ]]; then
    for db in "${RESTORED[@]}"; do drop_db "$db" || say "warning: could not drop $db"; done
    if [[ $CLEAN == 1 ]]; then
      for n in $SIZES; do say "CLEAN=1: dropping mybench_$n"; drop_db "mybench_$n"; done
    fi
    if [[ $MY_HOST == 127.0.0.1 && $MY_PORT == 53306 ]]; then
      my -e 'PURGE BINARY LOGS BEFORE NOW()' 2>/dev/null || say "warning: could not purge the binary logs"
    fi
  fi
  [[ -n ${SCRATCH_MADE:-} ]] && rm -rf -- "$SCRATCH"
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

# Client options for mariadb, mariadb-dump, mydumper and myloader (0.10 reads [client] and its own
# group from --defaults-file), mode 600, removed with the scratch dir.
CNF="$SCRATCH/client.cnf"
(
  umask 077
  for group in client mysqldump mariadb-dump mydumper myloader; do
    printf '[%s]\nhost=%s\nport=%s\nuser=%s\npassword=%s\n' "$group" "$MY_HOST" "$MY_PORT" "$MY_USER" "$MY_PASS"
    if [[ $group == client ]]; then printf 'protocol=tcp\nssl=0\n'; fi
  done >"$CNF"
)
# --defaults-file must come first.
my() { mariadb --defaults-file="$CNF" --batch "$@"; }

my -N -e 'SELECT 1' >/dev/null || die "MySQL at $MY_HOST:$MY_PORT does not answer as $MY_USER"
SERVER_VERSION=$(my -N -e 'SELECT VERSION()')
# A server on this machine: its CPU time is measured beside each run's (a backup's two halves
# share the two cores, so client + server CPU over the wall says how close to the limit it ran).
SERVER_PID=""
if [[ $MY_HOST == 127.0.0.1 || $MY_HOST == localhost ]] && command -v ss >/dev/null; then
  SERVER_PID=$(ss -Hltnp "sport = :$MY_PORT" 2>/dev/null | sed -n 's/.*pid=\([0-9]*\).*/\1/p' | head -n1)
fi
[[ $(my -N -e 'SELECT @@GLOBAL.local_infile') == 1 ]] \
  || die "the server has local_infile OFF; streamdump restore needs SET GLOBAL local_infile = 1"

# ---------------------------------------------------------------- measuring
# Rows of the results: one tab-separated record per measurement.
BACKUP_ROWS=()
RESTORE_ROWS=()
# record_backup ROWS TOOL OUTPUT_BYTES
record_backup() {
  BACKUP_ROWS+=("$1"$'\t'"$2"$'\t'"$M_WALL"$'\t'"$3"$'\t'"$M_RSS"$'\t'"$M_CPU"$'\t'"$M_LOAD"$'\t'"${M_RUNS:--}"$'\t'"$M_CSEC"$'\t'"$M_SSEC")
  say "$(printf '%-8s %-38s %8ss %12s B out  %7.1f MiB RSS  cpu %5s  load %s' "$1" "$2" "$M_WALL" "$3" \
    "$(awk -v k="$M_RSS" 'BEGIN { print k / 1024 }')" "$M_CPU" "$M_LOAD")"
}
# record_restore ROWS TOOL CHECK
record_restore() {
  RESTORE_ROWS+=("$1"$'\t'"$2"$'\t'"$M_WALL"$'\t'"$3"$'\t'"$M_RSS"$'\t'"$M_CPU"$'\t'"$M_LOAD"$'\t'"$M_CSEC"$'\t'"$M_SSEC")
  say "$(printf '%-8s %-38s %8ss  %-12s  %7.1f MiB RSS  cpu %5s  load %s' "$1" "$2" "$M_WALL" "$3" \
    "$(awk -v k="$M_RSS" 'BEGIN { print k / 1024 }')" "$M_CPU" "$M_LOAD")"
}


# ---------------------------------------------------------------- data
# Version of the generator below; a database built by another version is rebuilt.
DATA_VERSION=1
BATCH=500000
data_comment() { printf 'streamdump mysql bench data v%s rows=%s' "$DATA_VERSION" "$1"; }

schema_sql() {
  cat <<'SQL'
CREATE TABLE orders (
  id INT NOT NULL PRIMARY KEY,
  customer_id INT NOT NULL,
  sku CHAR(32) NOT NULL,
  created_at DATETIME NOT NULL,
  amount DECIMAL(12,2) NOT NULL,
  status VARCHAR(16) NOT NULL,
  note VARCHAR(100),
  tag VARBINARY(16)
) ENGINE=InnoDB;
CREATE TABLE order_events (
  event_id BIGINT NOT NULL PRIMARY KEY,
  order_id INT NOT NULL,
  event_type VARCHAR(32) NOT NULL,
  occurred_at DATETIME(3) NOT NULL,
  succeeded TINYINT(1) NOT NULL,
  request_id CHAR(36) NOT NULL,
  payload JSON,
  detail TEXT
) ENGINE=InnoDB;
SQL
}
# orders_batch_sql FIRST LAST TOTAL / events_batch_sql FIRST LAST TOTAL: one INSERT ... SELECT
# from the Sequence engine. ~1000 days of datetimes, random md5 text, an 8-byte binary tag.
orders_batch_sql() {
  cat <<SQL
INSERT INTO orders
SELECT seq, FLOOR(RAND() * 100000), MD5(seq),
  NOW() - INTERVAL FLOOR(RAND() * 86400000) SECOND, ROUND(RAND() * 10000, 2),
  ELT(1 + FLOOR(RAND() * 4), 'new', 'paid', 'shipped', 'cancelled'),
  CONCAT('customer note ', SUBSTR(MD5(RAND()), 1, FLOOR(RAND() * 32)), ' lorem ipsum dolor sit amet'),
  UNHEX(SUBSTR(MD5(RAND()), 1, 16))
FROM seq_$1_to_$2;
SQL
}
events_batch_sql() {
  cat <<SQL
INSERT INTO order_events
SELECT seq, 1 + FLOOR(RAND() * ($3 - 1)),
  ELT(1 + FLOOR(RAND() * 7), 'created', 'payment_authorized', 'payment_captured', 'packed',
      'shipped', 'delivered', 'refund_requested'),
  NOW(3) - INTERVAL FLOOR(RAND() * 86400000) SECOND - INTERVAL FLOOR(RAND() * 1000) * 1000 MICROSECOND,
  RAND() < 0.97,
  INSERT(INSERT(INSERT(INSERT(MD5(RAND()), 9, 0, '-'), 14, 0, '-'), 19, 0, '-'), 24, 0, '-'),
  JSON_OBJECT('ip', CONCAT_WS('.', 10, FLOOR(RAND() * 256), FLOOR(RAND() * 256), FLOOR(RAND() * 256)),
              'qty', 1 + FLOOR(RAND() * 9),
              'channel', ELT(1 + FLOOR(RAND() * 4), 'web', 'ios', 'android', 'api')),
  IF(RAND() < 0.2, CONCAT('retry after ', FLOOR(RAND() * 1000), ' ms: ', SUBSTR(MD5(RAND()), 1, 12)), NULL)
FROM seq_$1_to_$2;
SQL
}
# gen_sql ROWS: the whole build script, in batches of BATCH rows, without binary logging when
# the user may turn it off (SUPER / BINLOG ADMIN).
gen_sql() {
  local n=$1 events=$(($1 / 3)) a b
  if [[ $NO_BINLOG == 1 ]]; then echo 'SET SESSION sql_log_bin = 0;'; fi
  echo 'SET SESSION unique_checks = 0;'
  schema_sql
  for ((a = 1; a <= n; a += BATCH)); do
    b=$((a + BATCH - 1)); ((b > n)) && b=$n
    orders_batch_sql "$a" "$b" "$n"
  done
  for ((a = 1; a <= events; a += BATCH)); do
    b=$((a + BATCH - 1)); ((b > events)) && b=$events
    events_batch_sql "$a" "$b" "$n"
  done
  echo 'ANALYZE TABLE orders, order_events;'
}

count_rows() { # count_rows DB -> "orders order_events"
  my -N -D "$1" -e 'SELECT (SELECT COUNT(*) FROM orders), (SELECT COUNT(*) FROM order_events)' | tr '\t' ' '
}
checksums() { # checksums DB -> "orders-checksum events-checksum"
  my -N -D "$1" -e 'CHECKSUM TABLE orders, order_events' | awk -F'\t' '{ printf "%s%s", (NR > 1 ? " " : ""), $2 }'
}

ensure_db() { # ensure_db ROWS
  local n=$1 db="mybench_$1" events=$(($1 / 3)) have comment t0
  comment=$(my -N -e "SELECT SCHEMA_COMMENT FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = '$db'")
  if [[ $comment == "$(data_comment "$n")" ]]; then
    have=$(count_rows "$db" 2>/dev/null || true)
    if [[ $have == "$n $events" ]]; then
      say "$db: reusing ($n orders, $events order_events)"
      return
    fi
    say "$db: has '$have' rows, expected '$n $events': rebuilding"
  elif [[ -n $comment ]]; then
    say "$db: built by another generator ('$comment'): rebuilding"
  fi
  say "$db: building $n orders + $events order_events rows (takes a while)"
  t0=$SECONDS
  drop_db "$db"
  my -e "CREATE DATABASE \`$db\` CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci COMMENT '$(data_comment "$n")'"
  gen_sql "$n" | my -D "$db" >/dev/null
  have=$(count_rows "$db")
  [[ $have == "$n $events" ]] || die "$db: built '$have' rows, expected '$n $events'"
  say "$db: built in $((SECONDS - t0))s, $(my -N -e "SELECT CONCAT(ROUND(SUM(data_length + index_length) / 1048576), ' MiB') FROM information_schema.TABLES WHERE TABLE_SCHEMA = '$db'") on disk"
}

# ---------------------------------------------------------------- run
if [[ -n ${STREAMDUMP_BIN:-} ]]; then
  [[ -x $STREAMDUMP_BIN ]] || die "STREAMDUMP_BIN=$STREAMDUMP_BIN is not an executable"
  say "using STREAMDUMP_BIN=$STREAMDUMP_BIN (not rebuilt)"
  SRC_BIN=$STREAMDUMP_BIN
else
  say "building: cargo build --release --bin streamdump (no-op when up to date)"
  (cd -- "$REPO" && cargo build --release --bin streamdump) || die "cargo build --release failed"
  SRC_BIN="${CARGO_TARGET_DIR:-$REPO/target}/release/streamdump"
fi
# A private copy, so a colleague's rebuild cannot swap the binary during the run.
BIN="$SCRATCH/streamdump"
cp -- "$SRC_BIN" "$BIN"
GIT_REV=$(cd -- "$REPO" && git rev-parse --short HEAD 2>/dev/null || echo '?')
GIT_DIRTY=$(cd -- "$REPO" && git status --porcelain --untracked-files=no 2>/dev/null | wc -l)
MYDUMPER_VERSION=$(mydumper --version 2>&1 | head -n1 | awk '{ print $1, $2 }' | tr -d ,)
say "run $RUN_ID: sizes [$SIZES], zstd level $LEVEL (default $DEFAULT_LEVEL), jobs $JOBS, git $GIT_REV (+$GIT_DIRTY modified files), $SERVER_VERSION at $MY_HOST:$MY_PORT"

NO_BINLOG=0
if my -e 'SET SESSION sql_log_bin = 0' 2>/dev/null; then NO_BINLOG=1; fi
[[ $NO_BINLOG == 1 ]] || say "note: $MY_USER may not SET sql_log_bin; the data build goes to the binary log"

declare -A RAW_BYTES=() SD_RAW=() SRC_SUMS=()
for n in $SIZES; do
  db="mybench_$n"
  events=$((n / 3))
  ensure_db "$n"
  # Untimed pass: warms the caches and counts the raw bytes the client prints (tab-separated,
  # batch mode: the "raw" figure every MB/s below is computed from).
  o=$(my --quick -N -D "$db" -e 'SELECT * FROM orders' | wc -c)
  e=$(my --quick -N -D "$db" -e 'SELECT * FROM order_events' | wc -c)
  RAW_BYTES[$n]=$((o + e))
  SRC_SUMS[$n]=$(checksums "$db")
  say "$db: raw SELECT output: orders $o B, order_events $e B, total ${RAW_BYTES[$n]} B; CHECKSUM TABLE ${SRC_SUMS[$n]}"

  check_db() { # check_db DB -> "yes" / "NO (...)": row counts and CHECKSUM TABLE match the source
    local got sums
    got=$(count_rows "$1" 2>&1) || { echo "NO (count failed)"; return; }
    [[ $got == "$n $events" ]] || { echo "NO (rows $got)"; return; }
    sums=$(checksums "$1" 2>&1) || { echo "NO (checksum failed)"; return; }
    [[ $sums == "${SRC_SUMS[$n]}" ]] || { echo "NO (checksum)"; return; }
    echo yes
  }

  # The backups run in REPEAT rounds, each tool once per round, taking turns (medians are
  # reported, with every run's wall time): this machine's speed drifts by 20% over minutes.
  dumpfile="$SCRATCH/$db.sql.zst"
  mydir_gz="$SCRATCH/$db.mydumper-gz"
  mydir_raw="$SCRATCH/$db.mydumper"
  for ((round = 1; round <= REPEAT; round++)); do
    say "$db: backup round $round of $REPEAT"
    # (the bash -c scripts below get their arguments as $0 $1 ..., hence single quotes)
    # 1. raw SELECT, one table after the other (one connection at a time), and both at once.
    # shellcheck disable=SC2016
    sample raw1 /dev/null bash -c '"$0" --defaults-file="$1" --batch --quick -N -D "$2" -e "SELECT * FROM orders" >/dev/null &&
        "$0" --defaults-file="$1" --batch --quick -N -D "$2" -e "SELECT * FROM order_events" >/dev/null' mariadb "$CNF" "$db"
    # shellcheck disable=SC2016
    sample raw2 /dev/null bash -c '"$0" --defaults-file="$1" --batch --quick -N -D "$2" -e "SELECT * FROM orders" >/dev/null & a=$!
        "$0" --defaults-file="$1" --batch --quick -N -D "$2" -e "SELECT * FROM order_events" >/dev/null; b=$?
        wait $a && exit $b' mariadb "$CNF" "$db"

    # 2. mariadb-dump | zstd (one connection, one table after the other)
    # shellcheck disable=SC2016
    sample mdz /dev/null bash -c 'set -o pipefail; "$0" --defaults-file="$1" --single-transaction --quick "$2" |
        zstd -q -"$3" -T1 >"$4"' mariadb-dump "$CNF" "$db" "$LEVEL" "$dumpfile"

    # 3. mydumper, gzip-compressed (-c, mydumper 0.10's only codec) and uncompressed
    rm -rf -- "$mydir_gz" "$mydir_raw"
    sample mydgz /dev/null mydumper --defaults-file="$CNF" -B "$db" -o "$mydir_gz" -t "$JOBS" -c -v 1
    sample mydraw /dev/null mydumper --defaults-file="$CNF" -B "$db" -o "$mydir_raw" -t "$JOBS" -v 1
    mydraw_bytes=$(du -sb -- "$mydir_raw" | cut -f1)
    rm -rf -- "$mydir_raw"
    # 3b. mydumper, then its files compressed by zstd at streamdump's level: output of the same
    # kind as streamdump's (mydumper 0.10 has no zstd; later versions compress in their threads)
    # shellcheck disable=SC2016
    sample mydzst /dev/null bash -c '"$0" --defaults-file="$1" -B "$2" -o "$3" -t "$4" -v 1 &&
        zstd -q -"$5" -T"$4" --rm -r "$3"' mydumper "$CNF" "$db" "$mydir_raw" "$JOBS" "$LEVEL"
    mydzst_bytes=$(du -sb -- "$mydir_raw" | cut -f1)
    rm -rf -- "$mydir_raw"

    # 4. streamdump backup, local directory and S3 (URL with password through the environment)
    rm -rf -- "$SCRATCH/sd"
    aws_ s3 rm --recursive --quiet "s3://$S3_BUCKET/$S3_PREFIX/$n/" >/dev/null 2>&1 || true
    [[ $TOP == 1 && $round == 1 ]] && watch_threads "$BIN backup --to file://" "streamdump backup (file)"
    STREAMDUMP_SOURCE=$(db_url "$db") \
      sample sdfile "$SCRATCH/backup-file.json" "$BIN" backup --to "file://$SCRATCH/sd" \
      --jobs "$JOBS" "${LEVEL_ARGS[@]}" --json
    end_watch
    [[ $(jq -r .rows "$SCRATCH/backup-file.json") == $((n + events)) ]] \
      || say "warning: streamdump backed up $(jq -r .rows "$SCRATCH/backup-file.json") rows, expected $((n + events))"

    [[ $TOP == 1 && $round == 1 ]] && watch_threads "$BIN backup --to s3://" "streamdump backup (s3)"
    STREAMDUMP_SOURCE=$(db_url "$db") \
      sample sds3 "$SCRATCH/backup-s3.json" "$BIN" backup --to "s3://$S3_BUCKET/$S3_PREFIX/$n" \
      --endpoint "$S3_ENDPOINT" --path-style --jobs "$JOBS" "${LEVEL_ARGS[@]}" --json
    end_watch
  done
  settle raw1; record_backup "$n" "raw SELECT > /dev/null" 0
  settle raw2; record_backup "$n" "raw SELECT, 2 tables at once" 0
  settle mdz; record_backup "$n" "mariadb-dump | zstd -$LEVEL -T1" "$(stat -c %s "$dumpfile")"
  settle mydgz; record_backup "$n" "mydumper -t $JOBS -c (gzip)" "$(du -sb -- "$mydir_gz" | cut -f1)"
  settle mydraw; record_backup "$n" "mydumper -t $JOBS (uncompressed)" "$mydraw_bytes"
  settle mydzst; record_backup "$n" "mydumper -t $JOBS, then zstd -$LEVEL -T$JOBS of its files" "$mydzst_bytes"
  SD_RAW[$n]=$(jq -r .raw_bytes "$SCRATCH/backup-file.json")
  manifest_file=$(jq -r .manifest "$SCRATCH/backup-file.json")
  say "streamdump backup: $(jq -c '{rows, raw_bytes, stored_bytes, duration_secs, consistency}' "$SCRATCH/backup-file.json")"
  settle sdfile; record_backup "$n" "streamdump backup -> file" "$(jq -r .stored_bytes "$SCRATCH/backup-file.json")"
  manifest_s3=$(jq -r .manifest "$SCRATCH/backup-s3.json")
  settle sds3; record_backup "$n" "streamdump backup -> s3" "$(jq -r .stored_bytes "$SCRATCH/backup-s3.json")"
  M_RUNS=""

  # 5. restores into fresh databases (created untimed for the tools that need it)
  target="${db}_dump"
  drop_db "$target"; RESTORED+=("$target")
  my -e "CREATE DATABASE \`$target\`"
  # shellcheck disable=SC2016
  measure /dev/null bash -c 'set -o pipefail; zstd -dc -- "$0" | mariadb --defaults-file="$1" -D "$2"' \
    "$dumpfile" "$CNF" "$target"
  record_restore "$n" "zstd -dc | mariadb" "$(check_db "$target")"
  drop_db "$target"
  rm -f -- "$dumpfile"

  for binlog in off on; do
    target="${db}_myl"
    label="myloader -t $JOBS (binlog off, its default)"
    args=()
    if [[ $binlog == on ]]; then target="${db}_myle"; label="myloader -t $JOBS -e (binlog on)"; args=(-e); fi
    drop_db "$target"; RESTORED+=("$target")
    my -e "CREATE DATABASE \`$target\`"
    measure /dev/null myloader --defaults-file="$CNF" -d "$mydir_gz" -B "$target" -t "$JOBS" "${args[@]}" -v 1
    record_restore "$n" "$label" "$(check_db "$target")"
    drop_db "$target"
  done
  rm -rf -- "$mydir_gz"

  for from in file s3; do
    target="${db}_sdr_$from"
    manifest=$manifest_file
    [[ $from == s3 ]] && manifest=$manifest_s3
    drop_db "$target"; RESTORED+=("$target")
    [[ $TOP == 1 ]] && watch_threads "$BIN restore --from $manifest" "streamdump restore ($from)"
    STREAMDUMP_TARGET=$(db_url "$target") \
      measure "$SCRATCH/restore-$from.json" "$BIN" restore --from "$manifest" --create \
      --jobs "$JOBS" --endpoint "$S3_ENDPOINT" --path-style --json
    end_watch
    record_restore "$n" "streamdump restore <- $from" "$(check_db "$target")"
    drop_db "$target"
  done
  rm -rf -- "$SCRATCH/sd"
  aws_ s3 rm --recursive --quiet "s3://$S3_BUCKET/$S3_PREFIX/$n/" >/dev/null 2>&1 || true
done

# ---------------------------------------------------------------- report
ref() { # ref ROWS TOOL-PREFIX (first wall of that tool, from the rows given on stdin)
  awk -F'\t' -v n="$1" -v t="$2" '$1 == n && index($2, t) == 1 { print $3; exit }'
}
report() {
  local n rec raw wall sd_wall out
  echo "## streamdump MySQL benchmark $RUN_ID"
  echo
  echo "git $GIT_REV (+$GIT_DIRTY modified files), zstd level $LEVEL (crate default $DEFAULT_LEVEL), jobs $JOBS," \
    "$(nproc) CPUs, MariaDB $SERVER_VERSION, mariadb-dump $(mariadb-dump --version | sed -n 's/.*Distrib \([^,]*\),.*/\1/p'), $MYDUMPER_VERSION," \
    "$(zstd --version | head -n1 | sed 's/^\*\*\* //; s/ \*\*\*$//; s/, by .*//')."
  echo "MB/s = raw bytes (\`mariadb --batch\` output of both tables) / wall time. 'x streamdump' = this wall / streamdump's wall" \
    "(backup -> file, restore <- file): > 1 = streamdump faster."
  echo "Peak RSS = largest client-side process (/usr/bin/time -v); MariaDB server memory not counted. load = 1-min load average just before the run."
  echo "client / server CPU s = user + system seconds of the client processes and of the MariaDB server process over the run (server only when it runs on this machine, else -); medians."
  echo "Restores: streamdump ends with ANALYZE TABLE, the others do not; plain myloader turns the binary log off for its sessions, every other restore writes it."
  echo "'data match' = row counts and CHECKSUM TABLE of both tables equal the source's."
  echo
  for n in $SIZES; do
    echo "- mybench_$n: $n orders + $((n / 3)) order_events rows, raw $(awk -v b="${RAW_BYTES[$n]}" 'BEGIN { printf "%.1f MB", b / 1e6 }')" \
      "(streamdump raw_bytes $(awk -v b="${SD_RAW[$n]}" 'BEGIN { printf "%.1f MB", b / 1e6 }'): TSV, binary hex-encoded)"
  done
  echo
  echo "### Backup"
  echo
  echo "| rows | tool | wall s | MB/s | x streamdump | output bytes | raw/output | peak RSS MiB | client CPU | client / server CPU s | load | every run, s |"
  echo "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
  for rec in "${BACKUP_ROWS[@]}"; do
    IFS=$'\t' read -r n tool wall out rss cpu load runs csec ssec <<<"$rec"
    raw=${RAW_BYTES[$n]}
    sd_wall=$(printf '%s\n' "${BACKUP_ROWS[@]}" | ref "$n" "streamdump backup -> file")
    awk -v n="$n" -v tool="$tool" -v w="$wall" -v raw="$raw" -v out="$out" -v rss="$rss" -v cpu="$cpu" \
      -v ld="$load" -v sw="$sd_wall" -v runs="$runs" -v cs="$csec" -v ss="$ssec" 'BEGIN {
        gsub(/\|/, "\\|", tool)
        printf "| %d | %s | %.2f | %.0f | %s | %s | %s | %.1f | %s | %s / %s | %s | %s |\n", n, tool, w, raw / 1e6 / w,
          (sw > 0 ? sprintf("%.2f", w / sw) : "-"), (out > 0 ? out : "-"),
          (out > 0 ? sprintf("%.2f", raw / out) : "-"), rss / 1024, cpu, cs, ss, ld, runs }'
  done
  echo
  echo "### Restore"
  echo
  echo "| rows | tool | wall s | MB/s | x streamdump | peak RSS MiB | client CPU | client / server CPU s | data match | load |"
  echo "|---:|---|---:|---:|---:|---:|---:|---:|---|---:|"
  for rec in "${RESTORE_ROWS[@]}"; do
    IFS=$'\t' read -r n tool wall ok rss cpu load csec ssec <<<"$rec"
    raw=${RAW_BYTES[$n]}
    sd_wall=$(printf '%s\n' "${RESTORE_ROWS[@]}" | ref "$n" "streamdump restore <- file")
    awk -v n="$n" -v tool="$tool" -v w="$wall" -v raw="$raw" -v rss="$rss" -v cpu="$cpu" -v ok="$ok" \
      -v ld="$load" -v sw="$sd_wall" -v cs="$csec" -v ss="$ssec" 'BEGIN {
        gsub(/\|/, "\\|", tool)
        printf "| %d | %s | %.2f | %.0f | %s | %.1f | %s | %s / %s | %s | %s |\n", n, tool, w, raw / 1e6 / w,
          (sw > 0 ? sprintf("%.2f", w / sw) : "-"), rss / 1024, cpu, cs, ss, ok, ld }'
  done
  echo
  echo "### Summary (peer wall / streamdump wall; > 1 = streamdump faster)"
  echo
  local b r s peer
  for n in $SIZES; do
    b=$(printf '%s\n' "${BACKUP_ROWS[@]}" | ref "$n" "streamdump backup -> file")
    r=$(printf '%s\n' "${RESTORE_ROWS[@]}" | ref "$n" "streamdump restore <- file")
    for peer in "raw SELECT > /dev/null" "mariadb-dump | zstd" "mydumper -t $JOBS -c" "mydumper -t $JOBS (uncompressed)" "mydumper -t $JOBS, then zstd"; do
      s=$(printf '%s\n' "${BACKUP_ROWS[@]}" | ref "$n" "$peer")
      awk -v n="$n" -v p="$peer" -v s="$s" -v b="$b" 'BEGIN { printf "- %d rows: backup (file) vs %s: %.2fx\n", n, p, s / b }'
    done
    for peer in "zstd -dc | mariadb" "myloader -t $JOBS (" "myloader -t $JOBS -e"; do
      s=$(printf '%s\n' "${RESTORE_ROWS[@]}" | ref "$n" "$peer")
      awk -v n="$n" -v p="${peer% (}" -v s="$s" -v r="$r" 'BEGIN { printf "- %d rows: restore (file) vs %s: %.2fx\n", n, p, s / r }'
    done
  done
  for rec in "${BACKUP_ROWS[@]}" "${RESTORE_ROWS[@]}"; do
    IFS=$'\t' read -r n tool _ _ rss _ _ <<<"$rec"
    if [[ $tool == streamdump* ]]; then printf '%s\t%s\t%s\n' "$n" "$tool" "$rss"; fi
  done | awk -F'\t' '{ if ($3 > max) { max = $3; at = $2 " (" $1 " rows)" } }
    END { printf "- streamdump peak RSS: max %.1f MiB, %s\n", max / 1024, at }'
}

RESULTS="$OUT_DIR/mysql-results-$(date +%Y-%m-%d-%H%M%S).md"
report | tee "$RESULTS"
say "results written to $RESULTS"
