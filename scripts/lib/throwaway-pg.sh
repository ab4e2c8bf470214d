# shellcheck shell=bash
# A throwaway PostgreSQL cluster: temporary directory, unix socket only, deleted on exit.
#
#   source scripts/lib/throwaway-pg.sh
#   pg_throwaway_start NAME [extra `-c key=value` server options...]
#   ... use $PG_THROWAWAY_URL (superuser URL over the socket) ...
#
# pg_throwaway_start installs an EXIT trap that stops the cluster and deletes its directory
# (INT and TERM exit through it), so a caller that needs its own cleanup should chain it from
# pg_throwaway_cleanup. Works as root (PostgreSQL then runs as the `postgres` user) and as an
# ordinary user. Finds initdb/pg_ctl in $PG_BIN_DIR, then PATH, then the Debian and RPM places.

pg_throwaway_find_bin() {
    local dir
    if [[ -n "${PG_BIN_DIR:-}" ]]; then
        echo "$PG_BIN_DIR"
        return
    fi
    if command -v initdb >/dev/null && command -v pg_ctl >/dev/null; then
        dirname "$(command -v pg_ctl)"
        return
    fi
    for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r) \
               $(ls -d /usr/pgsql-*/bin 2>/dev/null | sort -V -r); do
        if [[ -x "$dir/initdb" && -x "$dir/pg_ctl" ]]; then
            echo "$dir"
            return
        fi
    done
    echo "no PostgreSQL found (initdb, pg_ctl); install it or set PG_BIN_DIR" >&2
    return 1
}

pg_throwaway_cleanup() {
    local status=$?
    trap - EXIT INT TERM
    if [[ -n "${PG_THROWAWAY_DIR:-}" && -d "$PG_THROWAWAY_DIR" ]]; then
        if [[ -f "$PG_THROWAWAY_DIR/data/postmaster.pid" ]]; then
            (cd "$PG_THROWAWAY_DIR" &&
                ${PG_THROWAWAY_AS[@]+"${PG_THROWAWAY_AS[@]}"} "$PG_THROWAWAY_BIN/pg_ctl" stop \
                    -D "$PG_THROWAWAY_DIR/data" -m immediate -w >/dev/null 2>&1) || true
        fi
        rm -rf "$PG_THROWAWAY_DIR"
    fi
    exit "$status"
}

pg_throwaway_start() {
    local name=$1
    shift
    local opts="-c listen_addresses='' -c max_connections=300"
    local o
    for o in "$@"; do
        opts+=" -c $o"
    done

    PG_THROWAWAY_BIN="$(pg_throwaway_find_bin)" || return 1
    PG_THROWAWAY_AS=()
    if [[ "$(id -u)" == 0 ]]; then
        if ! id postgres >/dev/null 2>&1; then
            echo "running as root needs a 'postgres' system user" >&2
            return 1
        fi
        PG_THROWAWAY_AS=(runuser -u postgres --)
    fi

    # Under /tmp, not $TMPDIR: the socket path must stay short (unix sockets allow ~100 bytes).
    PG_THROWAWAY_DIR="$(mktemp -d "/tmp/canopy-$name-pg.XXXXXX")"
    trap pg_throwaway_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    chmod 755 "$PG_THROWAWAY_DIR"
    mkdir -m 700 "$PG_THROWAWAY_DIR/data"
    if [[ ${#PG_THROWAWAY_AS[@]} -gt 0 ]]; then
        chown postgres: "$PG_THROWAWAY_DIR" "$PG_THROWAWAY_DIR/data"
    fi

    # Run PostgreSQL programs from a directory they can enter (not e.g. /root).
    (
        cd "$PG_THROWAWAY_DIR"
        ${PG_THROWAWAY_AS[@]+"${PG_THROWAWAY_AS[@]}"} "$PG_THROWAWAY_BIN/initdb" \
            -D "$PG_THROWAWAY_DIR/data" -U postgres --auth=trust --encoding=UTF8 --locale=C \
            --no-sync >"$PG_THROWAWAY_DIR/initdb.log" 2>&1 ||
            { cat "$PG_THROWAWAY_DIR/initdb.log" >&2; exit 1; }
        ${PG_THROWAWAY_AS[@]+"${PG_THROWAWAY_AS[@]}"} "$PG_THROWAWAY_BIN/pg_ctl" start \
            -D "$PG_THROWAWAY_DIR/data" -w -l "$PG_THROWAWAY_DIR/postgres.log" \
            -o "$opts -c unix_socket_directories=$PG_THROWAWAY_DIR" >/dev/null ||
            { cat "$PG_THROWAWAY_DIR/postgres.log" >&2; exit 1; }
    ) || return 1

    # sqlx reads a socket directory from `host=`; with an empty URL host the user is a parameter.
    PG_THROWAWAY_URL="postgres:///postgres?user=postgres&host=$PG_THROWAWAY_DIR"
    export PG_THROWAWAY_URL
}
