#!/usr/bin/env bash
# Instructions signetd executes for a fixed number of requests, under
# valgrind's callgrind: a figure that the machine's noise does not move, for
# comparing two builds (issue 17 allows at most 3% more).
#
#   bash bench/callgrind.sh SIGNETD [REQUESTS]
#
# It bootstraps a data directory with a native run (argon2id under valgrind
# would take minutes), starts SIGNETD on it under callgrind, warms each path
# (the client-secret and Basic verification caches fill on the first call),
# zeroes the counters, sends REQUESTS (default 400) keep-alive requests of
# each kind, and dumps the counters after each kind. It prints one line per
# kind: the instructions per request.
#   token: POST /{env}/as/token, grant_type=client_credentials, Basic worker;
#   admin: GET /admin-api/v1/accounts/{admin}, Basic (native) admin.
# Everything stays on 127.0.0.1.
set -euo pipefail

bin="$(realpath "${1:?usage: bench/callgrind.sh SIGNETD [REQUESTS]}")"
requests="${2:-400}"
command -v valgrind >/dev/null || { echo "callgrind.sh needs valgrind (apt-get install valgrind)" >&2; exit 1; }

work="$(mktemp -d)"
trap 'kill "$pid" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Waits until signetd answers /healthz on $1, for at most $2 seconds.
ready() {
    for _ in $(seq 1 "$(( $2 * 5 ))"); do
        curl -fs "http://127.0.0.1:$1/healthz" >/dev/null 2>&1 && return 0
        sleep 0.2
    done
    echo "signetd did not answer on port $1" >&2
    return 1
}

listen="$(port)"
"$bin" serve --data-dir "$work/data" --listen "127.0.0.1:$listen" >"$work/boot.log" 2>&1 &
pid=$!
ready "$listen" 60
kill "$pid"; wait "$pid" 2>/dev/null || true

listen="$(port)"
valgrind --tool=callgrind --callgrind-out-file="$work/cg.%p" \
    "$bin" serve --data-dir "$work/data" --listen "127.0.0.1:$listen" >"$work/serve.log" 2>&1 &
pid=$!
ready "$listen" 300

python3 - "$work" "$listen" "$requests" "$pid" <<'PY'
import base64, http.client, json, subprocess, sys, glob, os

work, port, n, pid = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
boot = json.load(open(os.path.join(work, "data", "bootstrap.json")))
issuer_path = boot["issuer"].split("://", 1)[1].split("/", 1)[1].rstrip("/")

def basic(user, secret):
    return "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode()

kinds = {
    "token": ("POST", f"/{issuer_path}/token", "grant_type=client_credentials",
              {"Authorization": basic(boot["worker"]["client_id"], boot["worker"]["client_secret"]),
               "Content-Type": "application/x-www-form-urlencoded"}),
    "admin": ("GET", f"/admin-api/v1/accounts/{boot['admin']['username']}", None,
              {"Authorization": basic(boot["admin"]["username"], boot["admin"]["password"])}),
}

def send(conn, method, path, body, headers, times):
    for _ in range(times):
        conn.request(method, path, body=body, headers=headers)
        r = conn.getresponse()
        r.read()
        if r.status != 200:
            sys.exit(f"{method} {path} answered {r.status}")

def total(dump):
    for line in open(dump):
        if line.startswith("summary:") or line.startswith("totals:"):
            return int(line.split()[1])
    sys.exit(f"no totals in {dump}")

for kind, (method, path, body, headers) in kinds.items():
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    send(conn, method, path, body, headers, 20)
    subprocess.run(["callgrind_control", "--zero", pid], check=True, capture_output=True)
    send(conn, method, path, body, headers, n)
    before = set(glob.glob(os.path.join(work, "cg.*")))
    subprocess.run(["callgrind_control", "--dump", pid], check=True, capture_output=True)
    dump = sorted(set(glob.glob(os.path.join(work, "cg.*"))) - before)[-1]
    conn.close()
    print(f"{kind}: {total(dump) / n:.0f} instructions per request ({n} requests)")
PY
