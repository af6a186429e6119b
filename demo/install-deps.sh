#!/usr/bin/env bash
# Installs (with apt-get, as root) what building, testing and the demo need,
# skipping what is already there. Shared by `make demo`, `make bench` and CI.
set -euo pipefail
packages=(build-essential libssl-dev openssl bats busybox-static qemu-system-x86
          nginx gnutls-bin python3 strace cpio procps
          clang-14 libclang-rt-14-dev valgrind file wrk curl gnuplot-nox)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0
if [[ $(id -u) != 0 ]]; then
    echo "install-deps: need root to install: ${missing[*]}" >&2
    exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
# Debian starts the packaged nginx on :80; nothing here uses it.
systemctl stop nginx 2>/dev/null || service nginx stop 2>/dev/null || true
