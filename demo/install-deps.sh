#!/usr/bin/env bash
# install-deps.sh [demo|test|bench] [--list]: installs (apt-get, as root) what
# that target needs and is missing; nothing else.
#   demo   make demo: build, nginx, Python (+ the QEMU guest where this kernel
#          has no kTLS)
#   bench  make bench: the demo's, curl, strace, gnuplot, redis (bench-hooks' redis row)
#   test   make test / CI (the default): everything the suite uses, the guest
#          included
#   --list print the target's packages, install nothing
# A service that was installed or running before is never stopped, started or
# restarted: while apt-get runs, a policy-rc.d (where none exists) tells
# packages not to start or restart services, and needrestart is held off. A
# package installed here whose service did not start (nginx) says so.
set -euo pipefail
cd "$(dirname "$0")/.."

build=(build-essential libssl-dev openssl)
# the QEMU guest that runs kTLS where this kernel has none (tests/vm/); xz and
# zstd unpack newer guest kernels and their modules; bash's loadable builtins
# spare the guest a program start per sleep (tests/vm/bash-env.sh)
guest=(qemu-system-x86 busybox-static cpio xz-utils zstd bash-builtins)
# the test matrix (tests/matrix/): Debian's archive key for the private apt
# index, the 5.10 guest kernel built from source, the OpenSSL builds
matrix=(debian-archive-keyring flex bison bc libelf-dev perl make)

target=test list=0
for arg in "$@"; do
    case $arg in
    demo | test | bench) target=$arg ;;
    --list) list=1 ;;
    *)
        echo "install-deps: unknown argument '$arg' (usage: install-deps.sh [demo|test|bench] [--list])" >&2
        exit 2
        ;;
    esac
done

needs_guest() { ! tests/have-ktls.sh; }
case $target in
demo)
    packages=("${build[@]}" nginx python3)
    needs_guest && packages+=("${guest[@]}")
    ;;
bench)
    packages=("${build[@]}" nginx python3 curl strace procps gnuplot-nox haproxy redis-server redis-tools)
    needs_guest && packages+=("${guest[@]}")
    ;;
test)
    # CI installs this and then runs make test (host and guest halves)
    packages=("${build[@]}" "${guest[@]}" "${matrix[@]}" bats nginx gnutls-bin python3 strace procps
              clang-14 libclang-rt-14-dev valgrind file wrk curl gnuplot-nox
              iproute2 systemd groff-base man-db python3-yaml jq
              postgresql apache2 haproxy lighttpd lighttpd-mod-openssl redis-server redis-tools
              stunnel4 socat)
    ;;
esac

if [[ $list == 1 ]]; then
    echo "${packages[*]}"
    exit 0
fi

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0
if [[ $(id -u) != 0 ]]; then
    echo "install-deps: need root to install for '$target': ${missing[*]}" >&2
    exit 1
fi

# Services: refuse every start/restart while apt-get runs, unless the machine
# already has its own policy (e.g. a container image's), which is kept as is.
policy=${KTLS_DEPS_POLICY_RC_D:-/usr/sbin/policy-rc.d} ours=0
if [[ ! -e $policy ]]; then
    ours=1
    printf '#!/bin/sh\n# install-deps.sh: no service starts or restarts while it installs\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    trap 'rm -f "$policy"' EXIT
fi
export NEEDRESTART_SUSPEND=1 DEBIAN_FRONTEND=noninteractive

echo "install-deps: installing for '$target': ${missing[*]}"
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
for p in "${missing[@]}"; do
    if [[ $p =~ ^(nginx|apache2|haproxy|lighttpd|postgresql)$ && $ours == 1 ]]; then
        echo "install-deps: $p installed, its system service not started (the demo and tests run their own)"
    fi
done
exit 0
