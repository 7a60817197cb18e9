#!/usr/bin/env bash
# Run the test suite against a throwaway PostgreSQL cluster on loopback.
#
#   bash .ci/postgres.sh                 # the whole suite
#   bash .ci/postgres.sh tests/engine -x # any pytest arguments instead
#
# Installs the Debian `postgresql` package when no server binaries are present (needs root
# or password-less sudo), creates a cluster in a temporary folder owned by an unprivileged
# user (`postgres` when run as root, yourself otherwise), listening on 127.0.0.1 only with
# trust authentication, creates one database, runs pytest with TEST_DATABASE_URL pointing
# at it (tests/conftest.py gives each test its own schema) and always stops and deletes the
# cluster on exit. The exit status is pytest's.
#
# PG_TEST_PORT picks the port (default 54329; a free one is chosen when it is taken) and
# PG_TEST_PYTHON the interpreter (default .venv/bin/python).
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PG_TEST_PYTHON:-.venv/bin/python}
if [ "$#" -eq 0 ]; then
    set -- tests
fi

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo -n "$@"; fi
}

pg_bin() {
    local dir
    dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
    if [ -n "$dir" ] && [ -x "$dir/initdb" ]; then echo "$dir"; fi
}

BIN=$(pg_bin)
if [ -z "$BIN" ]; then
    echo "postgres.sh: installing the Debian postgresql package"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        postgresql >/dev/null
    BIN=$(pg_bin)
fi
if [ -z "$BIN" ]; then
    echo "postgres.sh: no PostgreSQL server binaries under /usr/lib/postgresql" >&2
    exit 1
fi

"$PY" -c "import asyncpg" 2>/dev/null || "$PY" -m pip install --quiet asyncpg

PORT=${PG_TEST_PORT:-54329}
if ! "$PY" - "$PORT" <<'EOF'
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server binds
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)
EOF
then
    PORT=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])')
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/aplus-pg.XXXXXX")
chmod 755 "$WORK"
if [ "$(id -u)" -eq 0 ]; then
    chown postgres: "$WORK"
    run_pg() { runuser -u postgres -- "$@"; }
else
    run_pg() { "$@"; }
fi

cleanup() {
    local status=$?
    run_pg "$BIN/pg_ctl" -D "$WORK/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$WORK"
    exit "$status"
}
trap cleanup EXIT INT TERM

run_pg "$BIN/initdb" -D "$WORK/data" -U postgres -A trust -E UTF8 --no-locale >/dev/null
# Throwaway data: no fsync. Loopback only; the socket lives in the temporary folder.
OPTIONS="-c listen_addresses=127.0.0.1 -p $PORT -k $WORK -c max_connections=200"
OPTIONS="$OPTIONS -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
run_pg "$BIN/pg_ctl" -D "$WORK/data" -l "$WORK/server.log" -w -t 60 -o "$OPTIONS" start \
    >/dev/null || { cat "$WORK/server.log" >&2; exit 1; }
run_pg "$BIN/createdb" -h 127.0.0.1 -p "$PORT" -U postgres aplus_test

echo "postgres.sh: PostgreSQL $("$BIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$PORT"
TEST_DATABASE_URL="postgresql+asyncpg://postgres@127.0.0.1:$PORT/aplus_test" \
    "$PY" -m pytest -p no:randomly "$@"
