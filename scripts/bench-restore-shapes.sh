#!/usr/bin/env bash
# scripts/bench-restore-shapes.sh -- PostgreSQL restore of two database shapes that the main
# benchmark (scripts/bench.sh) does not cover, against `pg_restore -j JOBS`:
#
#   one_table: bench_<ROWS>'s `orders` alone (one table, one chunk): pg_restore -j loads it on
#              one connection; streamdump's loaders share the chunk
#   indexed:   both tables of bench_<ROWS> plus four secondary indexes (two per table): the
#              indexes of one table build side by side in both tools
#
#   scripts/bench-restore-shapes.sh            (services up: scripts/dev.sh up; bench_<ROWS>
#                                               built by scripts/bench.sh)
# Environment: ROWS=2000000, JOBS=2, ROUNDS=5 (tools take turns each round), BINS="path ..."
# (streamdump binaries to compare; default: a fresh release build). Each run restores into an
# empty database created untimed; the table gives median wall and every run, client CPU
# (user+sys), server CPU (PostgreSQL backends, from the postmaster's reaped children) and the
# machine's idle core-seconds. Output: stdout and bench-out/restore-shapes-<date>.md.
set -euo pipefail

REPO=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
say() { printf '[shapes] %s\n' "$*" >&2; }
die() { printf 'bench-restore-shapes.sh: error: %s\n' "$*" >&2; exit 1; }
[[ -f $REPO/.services/env ]] || die "no service environment: run scripts/dev.sh up"
# shellcheck disable=SC1091
source "$REPO/.services/env"
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
ROWS=${ROWS:-2000000}; JOBS=${JOBS:-2}; ROUNDS=${ROUNDS:-5}
BASE=${STREAMDUMP_TEST_PG%/*}  # the server URL without its database
SRC=bench_$ROWS
PM_PID=$(head -n1 "$REPO/.services/pg/data/postmaster.pid")
psql_() { "$PGBIN/psql" -X -q -A -t -v ON_ERROR_STOP=1 "$BASE/$1" -c "$2"; }
[[ $(psql_ postgres "SELECT count(*) FROM pg_database WHERE datname = '$SRC'") == 1 ]] \
  || die "database $SRC missing: run SIZES=$ROWS scripts/bench.sh first"

SCRATCH=$(mktemp -d "$REPO/bench-out/shapes.XXXXXX")
cleanup() {
  rm -rf -- "$SCRATCH"
  local db
  for db in shape_one_table shape_indexed shape_target; do
    psql_ postgres "DROP DATABASE IF EXISTS $db WITH (FORCE)" || true
  done
}
trap cleanup EXIT
if [[ -z ${BINS:-} ]]; then
  say "building: cargo build --release --bin streamdump"
  (cd -- "$REPO" && cargo build --release --bin streamdump)
  cp "$REPO/target/release/streamdump" "$SCRATCH/streamdump"
  BINS="$SCRATCH/streamdump"
fi

say "making the shapes from $SRC"
for shape in shape_one_table shape_indexed; do
  psql_ postgres "DROP DATABASE IF EXISTS $shape WITH (FORCE)"
  psql_ postgres "CREATE DATABASE $shape TEMPLATE $SRC"
done
psql_ shape_one_table "DROP TABLE order_events"
psql_ shape_indexed "CREATE INDEX ON orders (customer_id); CREATE INDEX ON orders (created_at);
  CREATE INDEX ON order_events (order_id); CREATE INDEX ON order_events (occurred_at)"
for shape in shape_one_table shape_indexed; do
  "$PGBIN/pg_dump" -Fc -f "$SCRATCH/$shape.dump" "$BASE/$shape"
  mkdir -p "$SCRATCH/$shape"
  "${BINS%% *}" backup --source "$BASE/$shape" --to "file://$SCRATCH/$shape" --json >/dev/null
done

cpu_idle() { awk '/^cpu / { print $5 + $6 }' /proc/stat; }
server_ticks() { awk '{ print $16 + $17 }' "/proc/$PM_PID/stat"; }
# run LABEL CMD...: one measured restore into an empty shape_target; appends to $SCRATCH/runs
run() {
  local label=$1; shift
  psql_ postgres "DROP DATABASE IF EXISTS shape_target WITH (FORCE)"
  psql_ postgres "CREATE DATABASE shape_target TEMPLATE template0"
  sync; sleep 2
  local i0 s0 t0 t1
  i0=$(cpu_idle); s0=$(server_ticks); t0=$(date +%s.%N)
  /usr/bin/time -f '%U %S' -o "$SCRATCH/time" "$@" >/dev/null 2>"$SCRATCH/err" \
    || { cat "$SCRATCH/err" >&2; die "$label failed"; }
  t1=$(date +%s.%N); sleep 0.3
  local hz; hz=$(getconf CLK_TCK)
  awk -v l="$label" -v w="$(echo "$t1 - $t0" | bc)" -v c="$(awk '{ print $1 + $2 }' "$SCRATCH/time")" \
      -v s="$(( $(server_ticks) - s0 ))" -v i="$(( $(cpu_idle) - i0 ))" -v hz="$hz" \
      'BEGIN { printf "%s\t%.2f\t%.2f\t%.2f\t%.2f\n", l, w, c, s / hz, i / hz }' >>"$SCRATCH/runs"
  say "$(tail -n1 "$SCRATCH/runs")"
}

for shape in shape_one_table shape_indexed; do
  manifest=$(find "$SCRATCH/$shape" -name manifest.json | head -n1)
  for ((round = 1; round <= ROUNDS; round++)); do
    run "$shape|pg_restore -j $JOBS" "$PGBIN/pg_restore" -j "$JOBS" -d "$BASE/shape_target" "$SCRATCH/$shape.dump"
    for bin in $BINS; do
      run "$shape|streamdump restore --jobs $JOBS ($bin)" "$bin" restore --from "file://$manifest" \
        --target "$BASE/shape_target" --jobs "$JOBS"
    done
  done
done

mkdir -p "$REPO/bench-out"
report="$REPO/bench-out/restore-shapes-$(date +%Y-%m-%d-%H%M%S).md"
{
  echo "## restore shapes, bench_$ROWS, --jobs $JOBS, $ROUNDS rounds, git $(git -C "$REPO" rev-parse --short HEAD)"
  echo
  echo "| shape | tool | median wall s | x pg_restore | client CPU s | server CPU s | idle core-s | every run, s |"
  echo "|---|---|---:|---:|---:|---:|---:|---|"
  awk -F'\t' '
    function median(list,   n, v, i, j, t) {
      n = split(list, v, " ")
      for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (v[j] + 0 < v[i] + 0) { t = v[i]; v[i] = v[j]; v[j] = t }
      return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
    }
    { w[$1] = w[$1] " " $2; c[$1] = c[$1] " " $3; s[$1] = s[$1] " " $4; i[$1] = i[$1] " " $5
      if (!($1 in seen)) { seen[$1] = 1; order[++k] = $1 } }
    END {
      for (n = 1; n <= k; n++) { split(order[n], p, "|"); if (p[2] ~ /^pg_restore/) ref[p[1]] = median(w[order[n]]) }
      for (n = 1; n <= k; n++) {
        split(order[n], p, "|"); m = median(w[order[n]])
        printf "| %s | %s | %.2f | %.2f | %.2f | %.2f | %.2f |%s |\n", p[1], p[2], m, ref[p[1]] / m,
          median(c[order[n]]), median(s[order[n]]), median(i[order[n]]), w[order[n]]
      }
    }' "$SCRATCH/runs"
} | tee "$report"
say "written: $report"
