#!/usr/bin/env bats
# The demo and its dependencies as a first-time user meets them: install-deps
# installs only what a target needs and never touches a service that was
# there; the demo runs a stock nginx (workers as nobody).

load helpers
bats_require_minimum_version 1.5.0

DEPS="$REPO/demo/install-deps.sh"

teardown() {
    [[ -n "${FAKE_DIR:-}" ]] && rm -rf "$FAKE_DIR"
    return 0
}

# apt-get, dpkg-query and the service managers replaced by stubs that log
# their calls; dpkg-query says installed for everything but $NOT_INSTALLED
fake_system() {
    # reachable by another user too (the not-root case)
    FAKE_DIR=$(mktemp -d /tmp/ktls-deps.XXXXXX)
    chmod 755 "$FAKE_DIR"
    local bin=$FAKE_DIR/bin
    mkdir -p "$bin"
    cat >"$bin/dpkg-query" <<'SH'
#!/bin/sh
for last; do :; done
for p in $NOT_INSTALLED; do [ "$p" = "$last" ] && exit 1; done
printf 'install ok installed'
SH
    cat >"$bin/apt-get" <<'SH'
#!/bin/sh
# while apt-get runs, services must be refused: the policy says 101
"$KTLS_DEPS_POLICY_RC_D" nginx start; echo "apt-get $* (policy: $?)" >>"$CALLS"
SH
    local s
    for s in systemctl service invoke-rc.d; do
        printf '#!/bin/sh\necho "%s $*" >>"$CALLS"\n' "$s" >"$bin/$s"
    done
    chmod +x "$bin"/*
    export PATH="$bin:$PATH" CALLS=$BATS_TEST_TMPDIR/calls KTLS_DEPS_POLICY_RC_D=$BATS_TEST_TMPDIR/policy-rc.d
    : >"$CALLS"
}

@test "install-deps: each target lists what it needs; test keeps everything CI had, plus xz-utils and zstd" {
    local demo bench test_list old p
    demo=" $("$DEPS" --list demo) " bench=" $("$DEPS" bench --list) " test_list=" $("$DEPS" --list test) "
    echo "demo:$demo"; echo "bench:$bench"; echo "test:$test_list"
    # the default (what .ci/run calls) is the test list
    [[ " $("$DEPS" --list) " == "$test_list" ]]
    old="build-essential libssl-dev openssl bats busybox-static qemu-system-x86 nginx gnutls-bin python3
         strace cpio procps clang-14 libclang-rt-14-dev valgrind file wrk curl gnuplot-nox xz-utils zstd"
    for p in $old; do [[ "$test_list" == *" $p "* ]] || { echo "test lacks $p"; return 1; }; done
    # the demo: build, nginx, Python; no compilers for fuzzing, no benchmark tools
    for p in build-essential libssl-dev nginx python3; do [[ "$demo" == *" $p "* ]]; done
    for p in clang-14 valgrind wrk gnuplot-nox bats strace curl; do [[ "$demo" != *" $p "* ]]; done
    for p in nginx curl strace gnuplot-nox; do [[ "$bench" == *" $p "* ]]; done
    for p in clang-14 valgrind bats gnutls-bin; do [[ "$bench" != *" $p "* ]]; done
    # the QEMU guest only where this kernel has no kTLS
    if have_ktls; then
        [[ "$demo" != *" qemu-system-x86 "* && "$bench" != *" qemu-system-x86 "* ]]
    else
        [[ "$demo" == *" qemu-system-x86 "*" xz-utils zstd "* && "$bench" == *" qemu-system-x86 "* ]]
    fi
    run "$DEPS" everything
    [[ $status == 2 && "$output" == "install-deps: unknown argument 'everything' (usage: install-deps.sh [demo|test|bench] [--list])" ]]
}

@test "install-deps: CI still installs the test list, then runs make test" {
    # .ci/run: install-deps.sh with no target (= test) or 'test', then make test
    run grep -nE '^(demo/install-deps\.sh( test)?|make test)$' "$REPO/.ci/run"
    echo "$output"
    [[ ${#lines[@]} == 2 && "${lines[0]}" == *install-deps.sh* && "${lines[1]}" == *"make test" ]]
}

@test "install-deps: installs only what is missing, never stops or starts a service" {
    [[ $(id -u) == 0 ]] || skip "the script installs as root"
    fake_system
    # everything there: nothing runs at all
    run "$DEPS" demo
    [[ $status == 0 && -z "$output" && ! -s "$CALLS" ]]
    # nginx and python3 missing for the demo
    NOT_INSTALLED="nginx python3" run "$DEPS" demo
    echo "$output"; cat "$CALLS"
    [[ $status == 0 ]]
    [[ "$output" == *"install-deps: installing for 'demo': nginx python3"* ]]
    [[ "$output" == *"install-deps: nginx installed, its system service not started"* ]]
    grep -qx 'apt-get install -y -q --no-install-recommends nginx python3 (policy: 101)' "$CALLS"
    ! grep -qE '^(systemctl|service|invoke-rc.d) ' "$CALLS"
    [[ ! -e "$KTLS_DEPS_POLICY_RC_D" ]] # ours, gone again
    # a policy the machine already has is left exactly as it was
    printf '#!/bin/sh\nexit 0\n' >"$KTLS_DEPS_POLICY_RC_D"
    chmod +x "$KTLS_DEPS_POLICY_RC_D"
    : >"$CALLS"
    NOT_INSTALLED="curl" run "$DEPS" bench
    [[ $status == 0 ]]
    grep -qx 'apt-get install -y -q --no-install-recommends curl (policy: 0)' "$CALLS"
    [[ "$(cat "$KTLS_DEPS_POLICY_RC_D")" == $'#!/bin/sh\nexit 0' ]]
    # not root: says what is missing, installs nothing
    : >"$CALLS"
    NOT_INSTALLED="wrk" run setpriv --reuid=12345 --regid=12345 --clear-groups env PATH="$PATH" "$DEPS" test
    echo "$output"
    [[ $status == 1 && "$output" == "install-deps: need root to install for 'test': wrk" && ! -s "$CALLS" ]]
}

@test "demo: stock nginx (no user line; workers as nobody) serves intact files, both ends counted" {
    requires nginx
    [[ $(id -u) == 0 ]] || skip "the demo's nginx starts as root and drops to nobody"
    ! grep -q '^user ' <(sed -n '/cat >"$dir\/nginx.conf" <<CONF/,/^CONF/p' "$REPO/demo/scenario.sh")
    local status=0
    "$REPO/demo/scenario.sh" >"$BATS_TEST_TMPDIR/demo.txt" 2>"$BATS_TEST_TMPDIR/demo.err" || status=$?
    cat "$BATS_TEST_TMPDIR/demo.txt"
    grep -qE '^  files intact \(sha256\) +5/5 +5/5$' "$BATS_TEST_TMPDIR/demo.txt"
    # 5 nginx (worker, as nobody) + 5 client connections in the shim's stats
    grep -qE '^  shim stats: TLS connections seen +- +10$' "$BATS_TEST_TMPDIR/demo.txt"
    if have_ktls; then
        [[ $status == 0 ]]
        grep -qE '^  shim stats: TX / RX moved to the kernel +- / - +10 / 10$' "$BATS_TEST_TMPDIR/demo.txt"
        grep -q '^  | ktls-run: 5 of 5 connections offloaded$' "$BATS_TEST_TMPDIR/demo.txt"
    else
        [[ $status == 1 ]] # the demo's own verdict: nothing offloaded here
        grep -q '^  | ktls-run: 0 of 5 connections offloaded: kernel-no-tls (run ktls-check)$' "$BATS_TEST_TMPDIR/demo.txt"
    fi
}
