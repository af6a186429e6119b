#!/usr/bin/env bash
# Fetch and unpack Debian's generic 6.1 kernel (the host kernel has no kTLS,
# so tests boot this one in QEMU). Prints the kernel version on stdout;
# progress goes to stderr so callers can do kver=$(fetch-kernel.sh).
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
cache=${KTLS_VM_CACHE:-$repo/.cache/vm}
mkdir -p "$cache"

# Newest generic flavour only: -cloud lacks many modules, -rt behaves differently.
newest() {
    apt-cache search --names-only '^linux-image-6\.1\.0-[0-9]+-amd64-unsigned$' |
        awk '{print $1}' | sort -V | tail -n 1
}

pkg=$(newest)
if [[ -z $pkg ]]; then
    # An already unpacked kernel is good enough; avoid touching apt then.
    done_kver=$(find "$cache" -maxdepth 1 -name 'kernel-*.done' -printf '%f\n' | sed -n 's/^kernel-\(.*\)\.done$/\1/p' | sort -V | tail -n 1)
    if [[ -n $done_kver ]]; then
        echo "$done_kver"
        exit 0
    fi
    echo "fetch-kernel: no 6.1 kernel known to apt-cache, running apt-get update" >&2
    apt-get update >&2
    pkg=$(newest)
fi
if [[ -z $pkg ]]; then
    echo "fetch-kernel: no linux-image-6.1.0-N-amd64-unsigned package available" >&2
    exit 1
fi

kver=${pkg#linux-image-}
kver=${kver%-unsigned}
root=$cache/kernel-$kver

# The .done marker is written last, so an interrupted unpack is redone.
if [[ ! -e $root.done ]]; then
    echo "fetch-kernel: downloading $pkg into $cache" >&2
    rm -rf "$root"
    # apt-get download writes into the current directory.
    (cd "$cache" && rm -f "${pkg}"_*.deb && apt-get download "$pkg" >&2)
    dpkg-deb -x "$cache/${pkg}"_*.deb "$root"
    [[ -f $root/boot/vmlinuz-$kver ]] || { echo "fetch-kernel: $pkg has no boot/vmlinuz-$kver" >&2; exit 1; }
    touch "$root.done"
fi
echo "$kver"
