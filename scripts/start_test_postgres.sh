#!/usr/bin/env bash
# Start a throwaway PostgreSQL cluster for the service tests and print how to reach it.
#
#   eval "$(bash scripts/start_test_postgres.sh)"      # exports DIGIREC_TEST_POSTGRES_URL
#   ...run tests...
#   eval "$DIGIREC_TEST_POSTGRES_STOP"                  # stops it and removes its files
#
# stdout carries only `export NAME=value` lines (safe to eval); progress goes to stderr.
# Works as root on a clean Debian machine: installs the server with apt-get when no initdb is
# found, and runs the cluster as the unprivileged `postgres` user (initdb refuses root), or as
# a `digirec-pg` system user created here when that one does not exist. The cluster listens on
# 127.0.0.1 only, on a free port, with trust authentication: it is for tests, never for data.
set -euo pipefail

log() { echo "start_test_postgres: $*" >&2; }

find_bin_dir() {
    # The newest /usr/lib/postgresql/<version>/bin, else wherever initdb is on PATH.
    local candidate found=""
    for candidate in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V); do
        if [ -x "$candidate/initdb" ] && [ -x "$candidate/pg_ctl" ]; then
            found="$candidate"
        fi
    done
    if [ -z "$found" ] && command -v initdb >/dev/null 2>&1; then
        found="$(dirname "$(readlink -f "$(command -v initdb)")")"
    fi
    echo "$found"
}

BIN_DIR="${PG_BIN_DIR:-$(find_bin_dir)}"
if [ -z "$BIN_DIR" ]; then
    if [ "$(id -u)" -ne 0 ]; then
        log "no PostgreSQL binaries found and not root: cannot apt-get install postgresql"
        exit 1
    fi
    log "installing PostgreSQL with apt-get (no initdb found)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq postgresql >&2
    BIN_DIR="$(find_bin_dir)"
fi
if [ -z "$BIN_DIR" ] || [ ! -x "$BIN_DIR/initdb" ]; then
    log "PostgreSQL binaries not found after install"
    exit 1
fi
log "using $BIN_DIR"

# initdb and postgres refuse to run as root: pick an unprivileged account.
RUN_AS=""
if [ "$(id -u)" -eq 0 ]; then
    if id postgres >/dev/null 2>&1; then
        RUN_AS=postgres
    else
        if ! id digirec-pg >/dev/null 2>&1; then
            useradd --system --no-create-home --shell /usr/sbin/nologin digirec-pg
        fi
        RUN_AS=digirec-pg
    fi
fi

as_pg() {
    if [ -n "$RUN_AS" ]; then
        # runuser needs no PAM session or password; su is the fallback on minimal systems.
        if command -v runuser >/dev/null 2>&1; then
            runuser -u "$RUN_AS" -- "$@"
        else
            su -s /bin/sh "$RUN_AS" -c "$(printf '%q ' "$@")"
        fi
    else
        "$@"
    fi
}

PYTHON="${PYTHON:-python3}"
free_port() {
    "$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

DATA_ROOT="$(mktemp -d "${TMPDIR:-/tmp}/digirec-pg.XXXXXX")"
chmod 755 "$DATA_ROOT"
DATA_DIR="$DATA_ROOT/data"
mkdir -p "$DATA_DIR"
if [ -n "$RUN_AS" ]; then
    chown -R "$RUN_AS" "$DATA_ROOT"
fi
chmod 700 "$DATA_DIR"

log "initdb in $DATA_DIR"
as_pg "$BIN_DIR/initdb" -D "$DATA_DIR" -U digirec --auth=trust --encoding=UTF8 --locale=C.UTF-8 \
    >"$DATA_ROOT/initdb.log" 2>&1 || {
    # Old images may lack the C.UTF-8 locale.
    rm -rf "$DATA_DIR" && mkdir -p "$DATA_DIR" && chmod 700 "$DATA_DIR"
    [ -n "$RUN_AS" ] && chown "$RUN_AS" "$DATA_DIR"
    as_pg "$BIN_DIR/initdb" -D "$DATA_DIR" -U digirec --auth=trust --encoding=UTF8 --no-locale \
        >"$DATA_ROOT/initdb.log" 2>&1 || { cat "$DATA_ROOT/initdb.log" >&2; exit 1; }
}

# A port can be taken between picking and binding: retry a few times.
PORT=""
for attempt in 1 2 3 4 5; do
    candidate="$(free_port)"
    # fsync=off: a throwaway cluster; commit visibility (what the tests check) is unchanged.
    if as_pg "$BIN_DIR/pg_ctl" -D "$DATA_DIR" -l "$DATA_ROOT/server.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -p $candidate -k $DATA_ROOT -c fsync=off -c max_connections=200" \
        start >&2; then
        PORT="$candidate"
        break
    fi
    log "start on port $candidate failed (attempt $attempt)"
    tail -n 20 "$DATA_ROOT/server.log" >&2 || true
done
if [ -z "$PORT" ]; then
    log "could not start PostgreSQL"
    exit 1
fi

"$BIN_DIR/psql" -h 127.0.0.1 -p "$PORT" -U digirec -d postgres -v ON_ERROR_STOP=1 -q \
    -c "CREATE DATABASE digirec_test" >&2

URL="postgresql://digirec@127.0.0.1:$PORT/digirec_test"
if [ -n "$RUN_AS" ]; then
    STOP="runuser -u $RUN_AS -- $BIN_DIR/pg_ctl -D $DATA_DIR -m fast -w stop >/dev/null 2>&1; rm -rf $DATA_ROOT"
else
    STOP="$BIN_DIR/pg_ctl -D $DATA_DIR -m fast -w stop >/dev/null 2>&1; rm -rf $DATA_ROOT"
fi
log "PostgreSQL ready at $URL"
printf 'export DIGIREC_TEST_POSTGRES_URL=%q\n' "$URL"
printf 'export DIGIREC_TEST_POSTGRES_STOP=%q\n' "$STOP"
