# shellcheck shell=bash disable=SC2034,SC2154
# Apache httpd 2.4 (Debian's, event MPM: a child process of worker threads;
# mod_ssl gives OpenSSL a read and a write BIO of its own over APR's
# non-blocking socket), started by hand on a configuration of its own, as
# root with workers as nobody like a stock install. GET of a seeded file or
# PUT of a seeded body (mod_dav) through tclient.py, with the client's
# perturbations, and a graceful restart in the middle of some plans.
# Observed: what each client connection got and how it ended, the access
# log (protocol, cipher and whether the connection was aborted included),
# the error log's lines about connections (mod_ssl's, how each ended
# among them), the uploads.

apache_available() { have apache2 && [[ -e /usr/lib/apache2/modules/mod_ssl.so ]]; }
apache_offload() { echo txrx; }

apache_plan() {
    pick_tls
    pick_web_transfer "1 1 1 4 8" "0 1 16384 16385 100000"
    pick sig none none graceful
}

# apache_conf DIR PORT: the whole configuration, nothing of /etc/apache2's
# (whose apache2.conf wants the APACHE_RUN_* environment of apache2ctl)
apache_conf() {
    local dir=$1 port=$2 mods=/usr/lib/apache2/modules
    {
        echo "ServerRoot $dir"
        echo "ServerName localhost"
        echo "DefaultRuntimeDir $dir"
        echo "PidFile $dir/httpd.pid"
        echo "Mutex file:$dir default"
        local m
        for m in mpm_event authz_core ssl socache_shmcb dav dav_fs; do
            echo "LoadModule ${m}_module $mods/mod_$m.so"
        done
        # started as root: workers as nobody, as a stock install's www-data
        ((EUID == 0)) && printf 'User nobody\nGroup nogroup\n'
        # one child of as many worker threads as a plan has connections at
        # most (the slow guests start no more processes than needed), and
        # room for a second: a graceful restart's new child takes the
        # listener while the old one finishes its connections
        echo "StartServers 1"
        echo "ServerLimit 2"
        echo "ThreadsPerChild 8"
        echo "MaxRequestWorkers 16"
        echo "MinSpareThreads 1"
        echo "MaxSpareThreads 16"
        echo "Listen 127.0.0.1:$port"
        # a reset plan: Apache is still writing when the RST comes (see
        # nginx_run's sndbuf)
        [[ $end == reset ]] && echo "SendBufferSize 65536"
        # (no time, pid or thread in the error log's lines; mod_ssl's debug
        # level says how each connection ended: standard, unclean or
        # abortive shutdown)
        echo 'ErrorLogFormat "[%m:%l] [client\ %a] %M"'
        echo "ErrorLog $dir/error.log"
        echo "LogLevel info ssl:debug"
        echo "LogFormat \"\\\"%r\\\" %>s %b %X %{SSL_PROTOCOL}x %{SSL_CIPHER}x\" torture"
        echo "CustomLog $dir/access.log torture"
        echo "DocumentRoot $dir/html"
        echo "<Directory $dir/html>"
        echo "    Require all granted"
        echo "</Directory>"
        echo "DavLockDB $dir/dav/lock"
        echo "<Location /upload>"
        echo "    Dav On"
        echo "</Location>"
        echo "SSLSessionCache shmcb:$dir/ssl_scache(512000)"
        echo "SSLEngine on"
        echo "SSLCertificateFile $dir/cert.pem"
        echo "SSLCertificateKeyFile $dir/key.pem"
        if [[ $tls == 1.3 ]]; then
            echo "SSLProtocol -all +TLSv1.3"
        else
            echo "SSLProtocol -all +TLSv1.2"
            echo "SSLCipherSuite $cipher"
        fi
    } >"$dir/httpd.conf"
}

apache_run() {
    local ap=$D/apache f port
    mkdir -p "$ap/html/upload" "$ap/dav"
    cp "$CERTS/ec.pem" "$ap/cert.pem"
    cp "$CERTS/ec.key" "$ap/key.pem"
    [[ $kind == get ]] && payload_file "$ap/html/f.bin" "$size" "$SEED"
    if ((EUID == 0)); then
        chown -R nobody "$ap/html/upload" "$ap/dav"
        chmod -R a+rX "$ap/html"
    fi
    port=$(free_port)
    apache_conf "$ap" "$port"
    under_test_bg apache2 -d "$ap" -f "$ap/httpd.conf" -DFOREGROUND >"$D/apache-start.err" 2>&1 &
    local parent=$!
    # (a probe's connection would be one more in the logs)
    wait_listening "$port" || { echo "apache did not start"; cat "$D/apache-start.err" "$ap/error.log"; return 1; }
    local restart=""
    if [[ $sig == graceful ]]; then
        # a graceful restart while connections run: the parent rereads its
        # configuration and a new child takes the listener while the old
        # one finishes its connections
        # (only once it runs: its signal handlers come after the listener,
        # and a USR1 before them ends Apache: the slower ASan run met that
        # in the 6.1 guest, seeds 2 and 6 --small)
        apache_running "$ap/error.log"
        (sleep 0.3; kill -USR1 "$parent" 2>/dev/null || true) &
        restart=$!
    fi
    web_client "$port"
    [[ -z $restart ]] || { wait "$restart"; apache_restarted "$ap/error.log" || echo "apache did not restart"; }
    # (TERM: every connection has ended, the client says so)
    kill -TERM "$parent" 2>/dev/null || true
    wait_gone "$parent" || { echo "apache did not stop"; kill -KILL "$parent" 2>/dev/null || true; }
    wait "$parent" 2>/dev/null || true
    cp "$ap/error.log" "$D/apache-error.err" # the children's stderr goes there (sanitizer reports)
    # how much a reset connection was sent is timing (see nginx_run)
    norm <"$ap/access.log" |
        { if [[ $end == reset ]]; then sed -E 's/" ([0-9]{3}) [0-9]+ /" \1 N /'; else cat; fi; } |
        apache_abort_rule access | sort | sed 's/^/access: /'
    apache_conn_lines <"$ap/error.log" | apache_abort_rule error | sort | sed 's/^/error.log: /'
    for f in "$ap"/html/upload/*; do
        [[ -e $f ]] && echo "upload ${f##*/} $(sha_of "$f") $(stat -c %s "$f")"
    done
    return 0
}

# A known limit (shim/docs/compatibility.md): once the kernel owns TX, a
# write that fails (the client's reset, or a client gone after its garbage
# record when the alert goes out) fails in SSL_write or in the kernel only,
# and Apache's core output filter, which marks the connection aborted, never
# sees it: the access log's %X says "-" where OpenSSL alone gives "X", and
# mod_ssl logs a standard shutdown where it logs an abortive one, with
# "SSL handshake interrupted by system" (6.1 guest, --program apache
# --first 1 --seeds 1 --small, and 1448978801). Made alike in the plans
# whose client misbehaves (reset, garbage, truncate) unless
# TORTURE_APACHE_ABORT=keep.
# apache_abort_rule access|error
apache_abort_rule() {
    if [[ ${TORTURE_APACHE_ABORT:-} == keep || ! $end =~ ^(reset|garbage|truncate)$ ]]; then
        cat
    elif [[ $1 == access ]]; then
        sed -E 's/^("[^"]*" [0-9]{3} [N0-9-]+) [-+X] /\1 aborted-or-not /'
    else
        grep -Ev 'AH0(2001|1998): Connection closed to child N with (standard|abortive) shutdown|AH02007: SSL handshake interrupted by system' || true
    fi
}

# apache_running LOG: waits up to 30 s for Apache's "resuming normal
# operations" (its signal handlers are set by then)
apache_running() {
    local i
    for ((i = 0; i < 300; i++)); do
        grep -qs 'AH00489:' "$1" && return 0
        sleep 0.1
    done
    return 1
}

# apache_restarted LOG: waits up to 10 s for the restart's second
# generation to run. A TERM that comes while the parent rereads its
# configuration is lost (the MPM clears a pending shutdown when the new
# generation starts): Apache never stopped in a plan whose client was done
# at the moment of the restart.
apache_restarted() {
    local i
    for ((i = 0; i < 100; i++)); do
        (($(grep -c 'AH00489:' "$1") >= 2)) && return 0
        sleep 0.1
    done
    return 1
}

# apache_conn_lines: the error log's lines about connections (a client's, or
# OpenSSL's error that follows one), normalised; start-up, restart and stop
# lines go (versions, the parent's notices). The child's slot number in
# "Connection to child N" is the worker thread's, which is timing.
apache_conn_lines() {
    norm | grep -E '\[client |SSL Library Error' |
        sed -E -e 's/child [0-9]+/child N/' \
            -e 's/\((32\)Broken pipe|104\)Connection reset by peer)/(EPIPE-or-ECONNRESET)/' || true
}
