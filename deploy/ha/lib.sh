# Shared by deploy/ha/*.sh: where the state is, how PostgreSQL is run, and how
# a signetd node is started and stopped. Sourced, never run.
#
# The state dir ($SIGNET_HA_STATE, default /tmp/signet-ha) holds everything:
# the two PostgreSQL clusters, the shared key-encryption key, one data dir
# per node, haproxy.cfg, logs, pid files, and `env` (KEY=VALUE lines, the
# ports and URLs; read by the scripts and by crates/signet-server/tests/it/ha.rs).

# Debian puts haproxy in /usr/sbin, which a user's PATH may lack.
PATH=$PATH:/usr/sbin:/sbin
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
STATE=${SIGNET_HA_STATE:-${TMPDIR:-/tmp}/signet-ha}
NODES=3

die() { echo "error: $*" >&2; exit 1; }

# PostgreSQL refuses to run as root: as root, its commands run as `postgres`.
as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

load_env() {
  [ -f "$STATE/env" ] || die "no harness at $STATE (run deploy/ha/up.sh first)"
  # shellcheck disable=SC1091
  source "$STATE/env"
}

# True when something listens on 127.0.0.1:$1.
port_busy() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Waits up to $2 seconds (default 30) for URL $1 to answer 200; gives up
# at once if process $3 (when given) has exited.
wait_http() {
  local url=$1 secs=${2:-30} pid=${3:-} i
  for ((i = 0; i < secs * 10; i++)); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$url")" = 200 ] && return 0
    [ -z "$pid" ] || kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

psql_at() {
  local port=$1
  shift
  as_pg "$PG_BIN/psql" -h 127.0.0.1 -p "$port" -U postgres -XAtq "$@"
}

# The database URL the nodes use. SIGNET_HA_DB picks it:
#   multi    both hosts, libpq-style: the node finds the writable one (default);
#   primary  the primary alone;
#   proxy    HAProxy's TCP front for PostgreSQL: primary, replica as backup.
database_url() {
  case "${SIGNET_HA_DB:-multi}" in
    primary) echo "postgres://postgres@127.0.0.1:$PG_PRIMARY_PORT/signet" ;;
    multi) echo "postgres://postgres@127.0.0.1:$PG_PRIMARY_PORT,127.0.0.1:$PG_REPLICA_PORT/signet?target_session_attrs=read-write" ;;
    proxy) echo "postgres://postgres@127.0.0.1:$PG_PROXY_PORT/signet" ;;
    *) die "SIGNET_HA_DB must be primary, multi or proxy" ;;
  esac
}

# Starts node $1 (1..3) in the background and waits for /readyz.
start_node() {
  local n=$1 port_var="NODE$1_PORT"
  local port=${!port_var}
  local dir="$STATE/node$n"
  mkdir -p "$dir" && chmod 0700 "$dir"
  # A port still held by a node killed a moment ago frees itself as the kernel reaps it.
  setsid "$SIGNETD" serve \
    --data-dir "$dir" \
    --listen "127.0.0.1:$port" \
    --public-url "$PUBLIC_URL" \
    --database-url "$DATABASE_URL" \
    --key-encryption-key-file "$STATE/key-encryption-key" \
    --trusted-proxies 127.0.0.1 \
    </dev/null >>"$STATE/logs/node$n.out" 2>>"$STATE/logs/node$n.log" &
  echo $! >"$STATE/node$n.pid"
  wait_http "http://127.0.0.1:$port/readyz" 60 $! || die "node $n did not get ready; see $STATE/logs/node$n.log"
}

# Stops node $1 with signal $2 (default TERM) and waits for it to exit.
stop_node() {
  local n=$1 sig=${2:-TERM} pid i
  [ -f "$STATE/node$n.pid" ] || return 0
  pid=$(cat "$STATE/node$n.pid")
  kill "-$sig" "$pid" 2>/dev/null || true
  for ((i = 0; i < 150; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$STATE/node$n.pid"
}
