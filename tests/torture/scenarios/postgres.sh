# shellcheck shell=bash disable=SC2034,SC2154
# PostgreSQL 15: the server (ssl=on, hostssl only; its own socket BIO on
# the backend's side, each connection a forked backend) and psql (libpq's
# own BIO, sslmode=require), both shimmed, several psql sessions at once,
# each on a table of its own: seeded base64 rows up with \copy ... from
# pstdin (COPY FROM STDIN: CopyData messages) and back with \copy ... to
# pstdout or a plain SELECT (DataRow messages), in order. In some plans a
# row in the middle has a column too many: the server fails the COPY
# while the client is still sending, and the session goes on; in some, one
# more session is killed (SIGKILL, from psql's own \!) inside an open
# transaction. Observed: each psql's exit, the sha256 and size of what came
# back and whether it is what went up, its error lines, each table's rows
# at the end (count, md5, from a last session), the server's log
# (connections with their protocol and cipher, disconnections, errors;
# sorted: the sessions' order is timing).

postgres_available() { have psql && [[ -x $(postgres_bin)/initdb ]]; }
postgres_offload() { echo txrx; }

# postgres_bin: the newest installed server's directory (Debian's layout)
postgres_bin() {
    local d
    d=$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
    echo "$d"
}

postgres_plan() {
    pick_tls
    # (list lengths prime to each other: $RANDOM's successive draws are
    # correlated modulo small powers of two)
    pick conns 1 1 2 3 3
    pick size 0 1 1000 16384 16385 100000 1048576
    # (rows of 76 characters, 1000, or 20000: one row spans TLS records)
    pick width 76 1000 20000
    pick back copy copy select select copy
    pick bad 0 0 0 0 1 1 0
    pick kill 0 0 1
}

# postgres_as: the prefix that runs a command as the server's user:
# PostgreSQL refuses to run as root (postgres where the package made it,
# else nobody); none otherwise
postgres_as() {
    PG_AS=()
    if ((EUID != 0)); then
        return 0
    elif id postgres >/dev/null 2>&1; then
        PG_AS=(setpriv --reuid=postgres --regid=postgres --init-groups)
    else
        PG_AS=(setpriv --reuid=nobody --regid=nogroup --clear-groups)
    fi
}

# postgres_template: a data directory made once per programs.sh run
# (initdb takes a minute in the guests) and copied for each run: no fsync,
# 1 MiB WAL segments (less to copy), only TLS connections from 127.0.0.1
postgres_template() {
    local t=$work/pg-template
    [[ -d $t/data ]] && return 0
    rm -rf "$t.new"
    mkdir -p "$t.new"
    ((EUID != 0)) || chown "$("${PG_AS[@]}" id -u):$("${PG_AS[@]}" id -g)" "$t.new"
    "${PG_AS[@]}" "$(postgres_bin)/initdb" -N -A trust -U postgres -E UTF8 --locale=C --no-instructions \
        --wal-segsize=1 -D "$t.new/data" >"$t.new/initdb.out" 2>&1 || { cat "$t.new/initdb.out"; return 1; }
    echo 'hostssl all all 127.0.0.1/32 trust' >"$t.new/data/pg_hba.conf"
    cp "$CERTS/ec.pem" "$CERTS/ec.key" "$t.new/data/"
    chmod 600 "$t.new/data/ec.key"
    ((EUID != 0)) || chown --reference="$t.new/data" "$t.new/data/pg_hba.conf" "$t.new/data/ec.pem" "$t.new/data/ec.key"
    mv "$t.new" "$t"
}

# postgres_wait PID: waits up to 60 s until the server listens, and no
# longer once it has ended
postgres_wait() {
    local i
    for ((i = 0; i < 600; i++)); do
        kill -0 "$1" 2>/dev/null || return 1
        # (wait_listening's test, once)
        grep -q "$(printf ':%04X' "$PG_PORT") 00000000:0000 0A" /proc/net/tcp && return 0
        sleep 0.1
    done
    return 1
}

# postgres_preload: psql and the server hang with libasan preloaded, shim
# or not (measured: LD_PRELOAD of libasan.so alone; the server's first
# bindtextdomain() waits forever on glibc's gettext lock, psql does not
# exit after its error): an ASan preload gives them the shim's plain build,
# as curl gets it (curl.sh)
postgres_preload() {
    PG_PRELOAD=$SHIM_PRELOAD
    [[ $PG_PRELOAD == *libasan* ]] && PG_PRELOAD=$PWD/build/libktls-shim.so
    return 0
}

# postgres_psql ARGS...: a shimmed psql to this run's server
postgres_psql() {
    SHIM_PRELOAD=$PG_PRELOAD under_test timeout 300 psql -X -q -A -t "host=127.0.0.1 port=$PG_PORT user=postgres dbname=postgres sslmode=require gssencmode=disable" "$@"
}

# postgres_rows FILE I: the seeded rows of client I (base64 lines of
# $width), with the bad plan's extra column half-way down
postgres_rows() {
    payload_file "$1.bin" "$size" "$((SEED * 16 + $2))"
    base64 -w "$width" "$1.bin" >"$1"
    rm -f "$1.bin"
    if ((bad)); then
        local n
        n=$(wc -l <"$1")
        sed -i "$((n / 2 + 1))s/\$/\textra/" "$1"
    fi
}

# postgres_client I: one session: a table, its rows up, then back
postgres_client() {
    local i=$1 rc=0 readback
    local c=$D/c$i
    postgres_rows "$c.rows" "$i"
    if [[ $back == copy ]]; then readback="\\copy (select line from t$i order by n) to pstdout"; else readback="select line from t$i order by n;"; fi
    {
        echo "create table t$i (n int generated always as identity, line text);"
        echo "\\copy t$i(line) from pstdin"
        echo "$readback"
    } >"$c.sql"
    postgres_psql -f "$c.sql" <"$c.rows" >"$c.out" 2>"$c.err" || rc=$?
    local same=no
    cmp -s "$c.rows" "$c.out" && same=yes
    echo "client $i: exit $rc up $(sha_of "$c.rows") $(stat -c %s "$c.rows") back $(sha_of "$c.out") $(stat -c %s "$c.out") same $same"
    norm <"$c.err" | sed "s/^/client $i: /"
}

# postgres_killed_client: a session that kills its own psql (SIGKILL from
# \!, whose shell is psql's child) once the server answered its INSERT,
# inside the transaction: the backend reads the end of a connection
# without close_notify, then rolls the row back
postgres_killed_client() {
    local rc=0
    # shellcheck disable=SC2016 # ($PPID is the shell's, psql)
    printf '%s\n' 'create table tk (line text);' 'begin;' "insert into tk values ('x');" '\! kill -KILL $PPID' 'select 1;' >"$D/kill.sql"
    postgres_psql -f "$D/kill.sql" >"$D/kill.out" 2>"$D/kill.err" || rc=$?
    echo "killed client: exit $rc out $(tr '\n' ' ' <"$D/kill.out")"
    # (not the harness's shell's own line about the kill)
    grep -vE ': line [0-9]+: +[0-9]+ Killed ' "$D/kill.err" | norm | sed 's/^/killed client: /' || true
}

# postgres_check: what the tables hold, from a last session
postgres_check() {
    local i q="select 'tables', count(*) from pg_tables where schemaname = 'public';"
    for ((i = 1; i <= conns; i++)); do
        q+=" select 't$i', count(*), md5(coalesce(string_agg(line, E'\\n' order by n), '')) from t$i;"
    done
    ((kill)) && q+=" select 'tk', count(*) from tk;"
    postgres_psql -c "$q" 2>"$D/check.err" | sed 's/^/check: /' || echo "check: exit $?"
    norm <"$D/check.err" | sed 's/^/check: /'
}

postgres_run() {
    local rc=0 i ver=TLSv1.3
    postgres_as
    postgres_template || return 1
    cp -a "$work/pg-template/data" "$D/pg"
    PG_PORT=$(free_port)
    [[ $tls == 1.2 ]] && ver=TLSv1.2
    # (no fsync, no autovacuum, no checkpoint lines: nothing a run's timing
    # decides in the log; no Unix socket: only TCP, as root cannot reach
    # the default's directory as postgres)
    local args=(-D "$D/pg" -c listen_addresses=127.0.0.1 -c port="$PG_PORT" -c unix_socket_directories=
        -c ssl=on -c ssl_cert_file=ec.pem -c ssl_key_file=ec.key
        -c ssl_min_protocol_version="$ver" -c ssl_max_protocol_version="$ver"
        -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c autovacuum=off
        -c shared_buffers=16MB -c max_connections=20 -c jit=off
        -c log_connections=on -c log_disconnections=on -c log_checkpoints=off -c log_line_prefix=)
    [[ -n $cipher ]] && args+=(-c ssl_ciphers="$cipher")
    postgres_preload
    SHIM_PRELOAD=$PG_PRELOAD under_test_bg "${PG_AS[@]}" "$(postgres_bin)/postgres" "${args[@]}" >"$D/postgres.out" 2>"$D/postgres.err" &
    local srv=$!
    postgres_wait "$srv" || { did_not_start postgres "$srv" "$D/postgres.err"; return 1; }
    local clients=()
    for ((i = 1; i <= conns; i++)); do
        postgres_client "$i" >"$D/client$i.obs" &
        clients+=($!)
    done
    wait "${clients[@]}"
    for ((i = 1; i <= conns; i++)); do cat "$D/client$i.obs"; done
    ((kill)) && postgres_killed_client
    postgres_check
    # a fast shutdown (SIGINT)
    kill -INT "$srv" 2>/dev/null || true
    wait_gone "$srv" || { echo "postgres did not stop"; kill -KILL "$srv" 2>/dev/null || true; }
    wait "$srv" || rc=$?
    echo "postgres exit $rc"
    norm <"$D/postgres.err" | sed -E -e 's/session time: [0-9:.]+/session time: T/' \
        -e 's/(port=|PID )[0-9]+/\1N/g' -e 's/shut down at [0-9: -]+ [A-Z]+$/shut down at TIME/' |
        sort | sed 's/^/postgres: /'
    return 0
}
