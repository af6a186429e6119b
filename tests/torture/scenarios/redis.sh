# shellcheck shell=bash disable=SC2034,SC2154
# Redis 7.0: redis-server with a TLS port only (SSL_set_fd on its own
# non-blocking sockets, partial writes allowed) and redis-cli clients
# (hiredis's TLS), both shimmed, several clients at once on keys of their
# own. What each client does is drawn: a script of commands on text values
# (SET, APPEND, GET, GETRANGE, STRLEN), a binary value up with -x and down
# with GET, or redis-cli --pipe (it writes the whole protocol stream while
# reading replies on a non-blocking socket); in some plans one more client
# is killed (SIGKILL) inside a MULTI once its command is queued. Observed:
# each client's exit and output (sha256 and size, and whether the value
# came back whole), its error lines, the dataset at the end (DBSIZE, DEBUG
# DIGEST: a hash of every key and value), the server's log (verbose: a
# line per connection accepted and how each ended), sorted.

redis_available() { have redis-server && have redis-cli; }
redis_offload() { echo txrx; }

redis_plan() {
    pick_tls
    # (list lengths prime to each other: $RANDOM's successive draws are
    # correlated modulo small powers of two)
    pick conns 1 1 2 3 4
    pick mode cmds cmds binary pipe pipe
    pick size 0 1 1000 16384 16385 100000 1048576
    if [[ $mode == pipe ]]; then
        # (bounded so that a plan's stream stays a few MiB: the guests are slow)
        pick count 1 10 100
        local cap=$((SMALL ? 262144 : 2097152))
        ((size == 0 || count * size <= cap)) || { count=$((cap / size > 0 ? cap / size : 1)); PLAN+="(count=$count) "; }
    fi
    pick kill 0 0 1
}

# redis_cli ARGS...: a shimmed redis-cli to the server of this run
redis_cli() {
    under_test timeout 300 redis-cli --tls --insecure -h 127.0.0.1 -p "$REDIS_PORT" "$@"
}

# redis_text FILE LEN SEED: LEN bytes of seeded base64 text, no newline (a
# value that fits on a command line)
redis_text() {
    payload_file "$1.bin" $(((${2} * 3) / 4 + 3)) "$3"
    base64 -w 0 "$1.bin" | head -c "$2" >"$1"
    rm -f "$1.bin"
}

# redis_cmds_client I: one redis-cli reading a script of commands (one
# connection, a reply awaited per command) on the text value of key cI
redis_cmds_client() {
    local i=$1 rc=0 v tail
    local c=$D/c$i
    redis_text "$c.val" "$size" "$((SEED * 16 + i))"
    redis_text "$c.tail" 1000 "$((SEED * 16 + i + 8))"
    v=$(<"$c.val") tail=$(<"$c.tail")
    {
        echo "SET c$i \"$v\""
        echo "APPEND c$i $tail"
        echo "STRLEN c$i"
        echo "GET c$i"
        echo "GETRANGE c$i 16380 16390"
        echo "GET c$i"
    } >"$c.script"
    redis_cli <"$c.script" >"$c.out" 2>"$c.err" || rc=$?
    # (gets-whole: the value came back whole, twice)
    echo "client $i: exit $rc out $(sha_of "$c.out") $(stat -c %s "$c.out") gets-whole $(grep -cxF "$v$tail" "$c.out")"
    norm <"$c.err" | sed "s/^/client $i: /"
}

# redis_binary_client I: a seeded binary value up (-x: the last argument
# from stdin) and down (GET, raw: the bytes and a newline)
redis_binary_client() {
    local i=$1 rc1=0 rc2=0
    local c=$D/c$i
    payload_file "$c.val" "$size" "$((SEED * 16 + i))"
    redis_cli -x SET "b$i" <"$c.val" >"$c.set" 2>"$c.err" || rc1=$?
    redis_cli GET "b$i" >"$c.out" 2>>"$c.err" || rc2=$?
    local whole=no
    cat "$c.val" >"$c.want" && echo >>"$c.want"
    cmp -s "$c.want" "$c.out" && whole=yes
    echo "client $i: set exit $rc1 $(tr -d '\n' <"$c.set") get exit $rc2 out $(sha_of "$c.out") $(stat -c %s "$c.out") whole $whole"
    norm <"$c.err" | sed "s/^/client $i: /"
}

# redis_pipe_client I: count SETs of text values (pI:J) through --pipe
redis_pipe_client() {
    local i=$1 rc=0 j text key LC_ALL=C
    local c=$D/c$i
    redis_text "$c.val" $((size + 7 * count)) "$((SEED * 16 + i))"
    text=$(<"$c.val")
    for ((j = 0; j < count; j++)); do
        key=p$i:$j
        # RESP: binary-safe lengths, not a command line
        # shellcheck disable=SC2016 # ($ is RESP's)
        printf '*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n' "${#key}" "$key" "$size" "${text:j*7:size}"
    done >"$c.proto"
    redis_cli --pipe <"$c.proto" >"$c.out" 2>"$c.err" || rc=$?
    echo "client $i: exit $rc"
    norm <"$c.out" | sed "s/^/client $i: /"
    norm <"$c.err" | sed "s/^/client $i: /"
}

# redis_killed_client: a client killed once the server has queued its
# command in a MULTI (its output says so): the server sees the connection
# end without close_notify and drops the transaction; the key keeps 1
redis_killed_client() {
    local fifo=$D/kill.fifo pid i
    mkfifo "$fifo"
    # (not redis_cli: $! must be the client itself)
    under_test_bg redis-cli --tls --insecure -h 127.0.0.1 -p "$REDIS_PORT" <"$fifo" >"$D/kill.out" 2>"$D/kill.err" &
    pid=$!
    exec 7>"$fifo"
    printf 'SET kk 1\nMULTI\nSET kk 2\n' >&7
    for ((i = 0; i < 600; i++)); do
        grep -q QUEUED "$D/kill.out" && break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    local rc=0
    wait "$pid" || rc=$?
    exec 7>&-
    echo "killed client: exit $rc out $(tr '\n' ' ' <"$D/kill.out")"
    norm <"$D/kill.err" | sed 's/^/killed client: /'
}

redis_run() {
    local port rc=0 i
    port=$(free_port)
    local args=(--port 0 --bind 127.0.0.1 --tls-port "$port"
        --tls-cert-file "$CERTS/ec.pem" --tls-key-file "$CERTS/ec.key" --tls-auth-clients no
        --save '' --appendonly no --dir "$D" --logfile "$D/redis.log" --loglevel verbose
        --enable-debug-command yes)
    if [[ $tls == 1.3 ]]; then
        args+=(--tls-protocols TLSv1.3)
    else
        args+=(--tls-protocols TLSv1.2 --tls-ciphers "$cipher")
    fi
    under_test_bg redis-server "${args[@]}" >"$D/redis.out" 2>"$D/redis.err" &
    local srv=$!
    wait_listening "$port" || { did_not_start redis "$srv" "$D/redis.log"; return 1; }
    REDIS_PORT=$port
    local clients=()
    for ((i = 1; i <= conns; i++)); do
        "redis_${mode}_client" "$i" >"$D/client$i.obs" &
        clients+=($!)
    done
    wait "${clients[@]}"
    for ((i = 1; i <= conns; i++)); do cat "$D/client$i.obs"; done
    ((kill)) && redis_killed_client
    redis_cli <<<$'DBSIZE\nDEBUG DIGEST\nGET kk' 2>"$D/check.err" | sed 's/^/check: /' || echo "check: exit $?"
    norm <"$D/check.err" | sed 's/^/check: /'
    kill -TERM "$srv" 2>/dev/null || true
    wait_gone "$srv" || { echo "redis did not stop"; kill -KILL "$srv" 2>/dev/null || true; }
    wait "$srv" || rc=$?
    echo "redis exit $rc"
    # (the prefix: pid, role, time; the clients' order is timing; every
    # 5 s verbose logs the keys per database: timing too)
    norm <"$D/redis.log" | grep -vE '^[0-9]+:M .* - DB [0-9]+: [0-9]+ keys' | sed -E -e 's/^[0-9]+:[A-Z] [0-9]{2} [A-Za-z]{3} [0-9]{4} [0-9:.]+ //' \
        -e 's/^[0-9]+:signal-handler \([0-9]+\) /signal-handler /' -e 's/(pid|port)=[0-9]+/\1=N/g' | sort | sed 's/^/redis.log: /'
    return 0
}
