# scripts/bench-lib.sh -- what scripts/bench.sh and scripts/bench-mysql.sh share: the common
# settings and the measuring (quiet-machine wait, /usr/bin/time -v, `top -H` of a run).
# shellcheck shell=bash disable=SC2034  # the settings are used by the scripts that source this
# Sourced, not run; the caller defines REPO, SCRATCH (before measuring), say and die.

# bench_settings [ROWS...]: S3 destination, sizes, zstd level, jobs, load threshold, cleanup.
bench_settings() {
  S3_ENDPOINT=${STREAMDUMP_TEST_S3_ENDPOINT:-${AWS_ENDPOINT_URL_S3:-http://127.0.0.1:18333}}
  S3_BUCKET=${STREAMDUMP_TEST_S3_BUCKET:-streamdump-test}
  AWS_CLI="$REPO/.venv/bin/aws"
  if (($#)); then SIZES="$*"; fi
  SIZES=${SIZES:-"2000000 7000000"}
  for n in $SIZES; do [[ $n =~ ^[1-9][0-9]*$ ]] || die "size '$n' is not a row count"; done
  DEFAULT_LEVEL=$(sed -n 's/^pub const DEFAULT_ZSTD_LEVEL: i32 = \([0-9]\+\);.*/\1/p' "$REPO/src/codec.rs")
  [[ -n $DEFAULT_LEVEL ]] || die "cannot read DEFAULT_ZSTD_LEVEL from src/codec.rs"
  LEVEL_ARGS=()
  if [[ -n ${LEVEL:-} ]]; then
    [[ $LEVEL =~ ^[0-9]+$ ]] || die "LEVEL '$LEVEL' is not a number"
    LEVEL_ARGS=(--zstd-level "$LEVEL")
  else
    LEVEL=$DEFAULT_LEVEL
  fi
  JOBS=${JOBS:-2}
  [[ $JOBS =~ ^[1-9][0-9]*$ ]] || die "JOBS '$JOBS' is not a number"
  LOAD_MAX=${LOAD_MAX:-0.7}
  LOAD_WAIT=${LOAD_WAIT:-180}
  CLEAN=${CLEAN:-0}
  TOP=${TOP:-0}
  REPEAT=${REPEAT:-3}
  [[ $REPEAT =~ ^[1-9][0-9]*$ ]] || die "REPEAT '$REPEAT' is not a number"
}

# Repeated measurements: `sample TOOL OUT CMD...` measures like `measure` and keeps the figures
# under TOOL; `settle TOOL` then sets M_WALL to the median wall, M_CPU to the median client CPU,
# M_RSS and M_LOAD to the largest seen, and M_RUNS to every wall. The benchmarks run their
# repeated tools in rounds (each tool once per round), so a slow spell of this shared machine
# hits every tool alike instead of one tool's every run.
declare -A S_WALL=() S_RSS=() S_CPU=() S_LOAD=() S_CSEC=() S_SSEC=()
sample() { # sample TOOL STDOUT_FILE CMD...
  local tool=$1; shift
  measure "$@"
  S_WALL[$tool]+="$M_WALL "; S_RSS[$tool]+="$M_RSS "; S_CPU[$tool]+="${M_CPU%\%} "; S_LOAD[$tool]+="$M_LOAD "
  S_CSEC[$tool]+="$M_CSEC "; S_SSEC[$tool]+="$M_SSEC "
}
median_of() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
max_of() { printf '%s\n' "$@" | sort -g | tail -n1; }
settle() { # settle TOOL
  local tool=$1
  # shellcheck disable=SC2086  # the lists are space-separated numbers
  {
    M_WALL=$(median_of ${S_WALL[$tool]}); M_RSS=$(max_of ${S_RSS[$tool]})
    M_CPU="$(median_of ${S_CPU[$tool]})%"; M_LOAD=$(max_of ${S_LOAD[$tool]})
    M_CSEC=$(median_of ${S_CSEC[$tool]})
    if [[ ${S_SSEC[$tool]} == *-* ]]; then M_SSEC=-; else M_SSEC=$(median_of ${S_SSEC[$tool]}); fi
  }
  M_RUNS=$(printf '%s' "${S_WALL[$tool]% }" | tr ' ' '/')
  unset "S_WALL[$tool]" "S_RSS[$tool]" "S_CPU[$tool]" "S_LOAD[$tool]" "S_CSEC[$tool]" "S_SSEC[$tool]"
}

load1() { cut -d' ' -f1 /proc/loadavg; }
# Wait until the 1-minute load average is below LOAD_MAX (polling every 10 s, at most LOAD_WAIT s).
wait_quiet() {
  local start=$SECONDS la
  la=$(load1)
  while awk -v l="$la" -v m="$LOAD_MAX" 'BEGIN { exit !(l >= m) }'; do
    if ((SECONDS - start >= LOAD_WAIT)); then
      say "warning: load $la still >= $LOAD_MAX after ${LOAD_WAIT}s; measuring anyway"
      break
    fi
    say "load $la >= $LOAD_MAX, waiting ($((SECONDS - start))s)"
    sleep 10
    la=$(load1)
  done
  M_LOAD=$la
}

# server_ticks: CPU clock ticks the database server process SERVER_PID (set by the caller for a
# server on this machine) and its reaped children have used; empty without one.
server_ticks() {
  [[ -n ${SERVER_PID:-} && -r /proc/$SERVER_PID/stat ]] || return 0
  # After "pid (comm) ", utime stime cutime cstime are fields 12-15.
  sed 's/^.*) //' "/proc/$SERVER_PID/stat" | awk '{ print $12 + $13 + $14 + $15 }'
}

# measure STDOUT_FILE CMD...: wait for a quiet machine, run CMD under /usr/bin/time -v.
# Sets M_WALL (s), M_RSS (KiB), M_CPU (client CPU %), M_CSEC (client CPU s, user + system),
# M_SSEC (server CPU s over the run, or - without SERVER_PID), M_LOAD (1-min load before the run).
measure() {
  local out=$1; shift
  local tf="$SCRATCH/time.out" t0 t1 s0 s1
  wait_quiet
  s0=$(server_ticks)
  t0=$EPOCHREALTIME
  if ! /usr/bin/time -v -o "$tf" "$@" >"$out"; then
    cat -- "$tf" >&2 || true
    [[ $out != /dev/null && -s $out ]] && { echo "---- stdout ----"; head -c 4000 -- "$out"; echo; } >&2
    die "failed: $*"
  fi
  t1=$EPOCHREALTIME
  s1=$(server_ticks)
  M_WALL=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
  M_RSS=$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$tf")
  M_CPU=$(awk -F': ' '/Percent of CPU this job got/ { print $2 }' "$tf")
  M_CSEC=$(awk -F': ' '/(User|System) time \(seconds\)/ { s += $2 } END { printf "%.2f", s }' "$tf")
  M_SSEC=-
  if [[ -n $s0 && -n $s1 ]]; then
    M_SSEC=$(awk -v a="$s0" -v b="$s1" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", (b - a) / hz }')
  fi
}

# Print `top -H` of the newest process matching PATTERN a few seconds into a run (TOP=1).
watch_threads() { # watch_threads PATTERN LABEL
  local pat=$1 label=$2 pid=""
  (
    for _ in $(seq 1 100); do
      pid=$(pgrep -n -f -- "$pat" || true)
      [[ -n $pid ]] && break
      sleep 0.1
    done
    [[ -n $pid ]] || exit 0
    sleep 3
    kill -0 "$pid" 2>/dev/null || exit 0
    {
      echo "---- top -H of $label (pid $pid) ----"
      top -b -n 3 -d 1 -H -p "$pid" | awk '/^top -/ { n++ } n == 3'
      echo "---- end top ----"
    } >&2
  ) &
  TOP_PID=$!
}
end_watch() { if [[ -n ${TOP_PID:-} ]]; then wait "$TOP_PID" 2>/dev/null || true; TOP_PID=""; fi; }
