#!/usr/bin/env bash
# A throwaway PostgreSQL server for the store tests (usage_async.sync).
#
#   source .ci/postgres.sh start   # exports USAGE_ASYNC_TEST_POSTGRES_URL (and USAGE_ASYNC_PG_DIR)
#   bash .ci/postgres.sh stop      # stops it and deletes its files (reads USAGE_ASYNC_PG_DIR)
#
# Uses initdb/pg_ctl from PATH or /usr/lib/postgresql/*/bin, and installs Debian's
# `postgresql` package with apt-get when there are none (CI runs as root on a fresh machine).
# The cluster lives in a new temporary folder, is owned by a non-root user (`postgres` when it
# exists, else a system user created for it), and listens only on a Unix socket in that
# folder: no TCP port, so nothing can clash with another server. Trust authentication is
# fine there: only this machine's users can reach the socket. "start" fails loudly (non-zero,
# with the server's log) when the server does not come up.

_pg_log() { echo "postgres.sh: $*" >&2; }

_pg_bindir() {
    local found
    if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
        dirname "$(readlink -f "$(command -v pg_ctl)")"
        return 0
    fi
    found=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
    if [ -n "$found" ] && [ -x "$found/initdb" ] && [ -x "$found/pg_ctl" ]; then
        echo "$found"
        return 0
    fi
    return 1
}

_pg_install() {
    if [ "$(id -u)" != 0 ]; then
        _pg_log "no initdb/pg_ctl found, and not root: install Debian's postgresql package"
        return 1
    fi
    _pg_log "installing Debian's postgresql package"
    # Do not let the package create and start its default cluster: ours is throwaway.
    if [ ! -e /etc/postgresql-common/createcluster.conf ]; then
        mkdir -p /etc/postgresql-common
        echo "create_main_cluster = false" >/etc/postgresql-common/createcluster.conf
    fi
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null &&
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            postgresql >/dev/null
}

_pg_user() {
    # The user that owns and runs the cluster: never root (postgres refuses to run as root).
    if [ "$(id -u)" != 0 ]; then
        id -un
    elif id postgres >/dev/null 2>&1; then
        echo postgres
    else
        id usage_async_pg >/dev/null 2>&1 ||
            useradd --system --no-create-home --shell /usr/sbin/nologin usage_async_pg ||
            return 1
        echo usage_async_pg
    fi
}

_pg_as() {
    local user=$1
    shift
    if [ "$(id -u)" = 0 ]; then
        runuser -u "$user" -- "$@"
    else
        "$@"
    fi
}

postgres_start() {
    local bindir user dir
    bindir=$(_pg_bindir) || { _pg_install && bindir=$(_pg_bindir); } || {
        _pg_log "FAILED: no PostgreSQL server binaries (initdb, pg_ctl)"
        return 1
    }
    user=$(_pg_user) || { _pg_log "FAILED: could not create a non-root user"; return 1; }
    dir=$(mktemp -d "${TMPDIR:-/tmp}/usage-async-pg.XXXXXX") || return 1
    chmod 755 "$dir"
    chown "$user" "$dir" || { _pg_log "FAILED: chown $dir to $user"; return 1; }
    if ! _pg_as "$user" "$bindir/initdb" -D "$dir/data" -U postgres --auth=trust \
        --encoding=UTF8 --no-locale --no-sync >"$dir/initdb.log" 2>&1; then
        _pg_log "FAILED: initdb"
        cat "$dir/initdb.log" >&2
        return 1
    fi
    # Unix socket only; fsync off: a throwaway cluster needs speed, not durability.
    if ! _pg_as "$user" "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
        -o "-c listen_addresses='' -k $dir -p 5432 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
        start >/dev/null; then
        _pg_log "FAILED: the server did not start; its log:"
        cat "$dir/server.log" >&2
        return 1
    fi
    if ! _pg_as "$user" "$bindir/psql" -h "$dir" -p 5432 -U postgres -d postgres -qAt \
        -c "CREATE DATABASE usage_async_test" >/dev/null; then
        _pg_log "FAILED: CREATE DATABASE"
        return 1
    fi
    export USAGE_ASYNC_PG_DIR="$dir"
    export USAGE_ASYNC_PG_BINDIR="$bindir"
    export USAGE_ASYNC_PG_USER="$user"
    export USAGE_ASYNC_TEST_POSTGRES_URL="postgresql://postgres@/usage_async_test?host=$dir&port=5432"
    _pg_log "PostgreSQL $("$bindir/pg_ctl" --version | awk '{print $3}') up as $user:" \
        "USAGE_ASYNC_TEST_POSTGRES_URL=$USAGE_ASYNC_TEST_POSTGRES_URL"
}

postgres_stop() {
    local dir=${USAGE_ASYNC_PG_DIR:-} bindir user
    if [ -z "$dir" ] || [ ! -d "$dir" ]; then
        return 0
    fi
    bindir=${USAGE_ASYNC_PG_BINDIR:-$(_pg_bindir)}
    user=${USAGE_ASYNC_PG_USER:-$(_pg_user)}
    _pg_as "$user" "$bindir/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null 2>&1 ||
        _pg_log "pg_ctl stop failed (was it running?)"
    rm -rf "$dir"
    _pg_log "PostgreSQL stopped, $dir removed"
}

case "${1:-}" in
start) postgres_start ;;
stop) postgres_stop ;;
*)
    _pg_log "usage: source .ci/postgres.sh start | bash .ci/postgres.sh stop"
    false
    ;;
esac
