#!/usr/bin/env bash
# Run a command against a throw-away PostgreSQL server.
#
#   scripts/with-postgres.sh CMD [ARG...]   start a private server on a free port of 127.0.0.1,
#                                           create the database onex_test, export
#                                           ONEX_TEST_DATABASE_URL (and PGHOST/PGPORT/PGUSER/
#                                           PGDATABASE), run CMD, then stop the server and
#                                           delete its files; exits with CMD's exit code.
#   scripts/with-postgres.sh --find         print the PostgreSQL bin directory, or exit 1.
#
# PostgreSQL binaries are looked for in $PG_BINDIR, /usr/lib/postgresql/15/bin, the newest
# /usr/lib/postgresql/*/bin, then next to `pg_ctl` on PATH. When none are found the command is
# skipped (exit 0), unless REQUIRE_POSTGRES=1, which makes that an error.
# As root, the server runs as the `postgres` user (PostgreSQL refuses to run as root).
set -euo pipefail

log() { printf 'with-postgres: %s\n' "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}

# A directory holding pg_ctl, initdb and postgres, or nothing.
find_pg_bindir() {
    local dir candidate
    local -a candidates=()
    if [[ -n "${PG_BINDIR:-}" ]]; then
        candidates+=("$PG_BINDIR")
    fi
    candidates+=(/usr/lib/postgresql/15/bin)
    while IFS= read -r dir; do
        candidates+=("$dir")
    done < <(compgen -G '/usr/lib/postgresql/*/bin' | sort -V -r || true)
    if candidate=$(command -v pg_ctl 2>/dev/null); then
        candidates+=("$(dirname "$(readlink -f "$candidate")")" "$(dirname "$candidate")")
    fi
    for dir in "${candidates[@]}"; do
        if [[ -x "$dir/pg_ctl" && -x "$dir/initdb" && -x "$dir/postgres" ]]; then
            printf '%s\n' "$dir"
            return 0
        fi
    done
    return 1
}

if [[ "${1:-}" == "--find" ]]; then
    find_pg_bindir
    exit
fi
if [[ $# -eq 0 ]]; then
    echo "usage: $0 CMD [ARG...]  |  $0 --find" >&2
    exit 2
fi

if ! bindir=$(find_pg_bindir); then
    if [[ "${REQUIRE_POSTGRES:-0}" == "1" ]]; then
        die "PostgreSQL not installed (no pg_ctl/initdb/postgres in /usr/lib/postgresql/*/bin" \
            "or on PATH) but REQUIRE_POSTGRES=1; install it (Debian: apt-get install postgresql)" \
            "or set PG_BINDIR"
    fi
    echo "PostgreSQL not installed: skipping the PostgreSQL half"
    exit 0
fi

if [[ $(id -u) -eq 0 ]]; then
    as_root=1
    id -u postgres >/dev/null 2>&1 ||
        die "running as root, but there is no 'postgres' user to run the server as"
    command -v runuser >/dev/null 2>&1 || die "running as root, but runuser is not available"
    # Under /tmp, whatever TMPDIR says: the postgres user must be able to reach it.
    tmp=$(mktemp -d /tmp/onex-pg.XXXXXX)
    chown postgres: "$tmp"
else
    as_root=0
    tmp=$(mktemp -d "${TMPDIR:-/tmp}/onex-pg.XXXXXX")
fi
chmod 700 "$tmp"
data="$tmp/data"
server_log="$tmp/postgres.log"

# Run a PostgreSQL program as the server's owner.
as_pg() {
    if [[ $as_root == 1 ]]; then
        (cd "$tmp" && runuser -u postgres -- "$@")
    else
        "$@"
    fi
}

# shellcheck disable=SC2317  # invoked by the traps below
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if [[ -f "$data/postmaster.pid" ]]; then
        if ! as_pg "$bindir/pg_ctl" -D "$data" -m fast -w -t 30 stop >/dev/null 2>&1; then
            as_pg "$bindir/pg_ctl" -D "$data" -m immediate -w -t 10 stop >/dev/null 2>&1 || true
        fi
        if [[ -f "$data/postmaster.pid" ]]; then
            local pid
            pid=$(head -n 1 "$data/postmaster.pid" 2>/dev/null || true)
            if [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null; then
                log "server did not stop; killing process $pid"
                kill -9 "$pid" 2>/dev/null || true
            fi
        fi
    fi
    rm -rf "$tmp"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if ! as_pg "$bindir/initdb" -D "$data" --auth=trust -U postgres --encoding=UTF8 \
    --locale=C.UTF-8 >"$tmp/initdb.log" 2>&1; then
    rm -rf "$data"
    if ! as_pg "$bindir/initdb" -D "$data" --auth=trust -U postgres --encoding=UTF8 \
        --no-locale >"$tmp/initdb.log" 2>&1; then
        cat "$tmp/initdb.log" >&2
        die "initdb failed"
    fi
fi

free_port() {
    python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

# A throw-away server: no durability, and no autovacuum, whose ANALYZE runs in a transaction of
# its own that holds the audit feed's watermark back server-wide (app/core/audit.py) for as
# long as it runs, so a test that seals and counts exactly could, now and then, find a seal
# stopping short.
started=0
for _attempt in 1 2 3 4 5; do
    port=$(free_port)
    if as_pg "$bindir/pg_ctl" -D "$data" -l "$server_log" -w -t 60 -o "-p $port -k '$tmp' \
-c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off \
-c full_page_writes=off -c max_connections=200 -c autovacuum=off" start >/dev/null 2>&1; then
        started=1
        break
    fi
    # Another process may have taken the port in between: try another one.
    grep -q 'already in use' "$server_log" 2>/dev/null || break
done
if [[ $started != 1 ]]; then
    cat "$server_log" >&2 2>/dev/null || true
    die "could not start PostgreSQL (pg_ctl start failed)"
fi

createdb_bin="$bindir/createdb"
[[ -x "$createdb_bin" ]] || createdb_bin=$(command -v createdb) ||
    die "createdb not found next to pg_ctl nor on PATH"
"$createdb_bin" -h 127.0.0.1 -p "$port" -U postgres onex_test ||
    die "could not create the database onex_test"

export ONEX_TEST_DATABASE_URL="postgresql+psycopg://postgres@127.0.0.1:$port/onex_test"
export PGHOST=127.0.0.1 PGPORT="$port" PGUSER=postgres PGDATABASE=onex_test
version=$("$bindir/postgres" --version 2>/dev/null || echo PostgreSQL)
log "$version running on 127.0.0.1:$port (database onex_test, files in $tmp)"

set +e
"$@"
rc=$?
set -e
exit "$rc"
