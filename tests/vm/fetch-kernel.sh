#!/usr/bin/env bash
# fetch-kernel.sh [SERIES]: fetch and unpack Debian's generic kernel of one
# series for the test guest (the host kernel has no kTLS). SERIES is 5.10
# (built from source: see build-kernel-5.10.sh), 6.1, 6.12 or 7.3 (default: $KTLS_VM_KERNEL, else 6.1). Prints the kernel
# version on stdout; progress goes to stderr so callers can do
# kver=$(fetch-kernel.sh 7.3).
# Unpacked as $KTLS_VM_CACHE/kernel-KVER/{vmlinuz,modules/} whatever the
# package layout (5.10/6.1: /boot and /lib/modules; 6.12: /usr/lib/modules;
# 7.3 from trixie-backports: split into linux-binary, -modules and -base).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/vm/cache.sh
. "$here/cache.sh"
cache=$KTLS_VM_CACHE
series=${1:-${KTLS_VM_KERNEL:-6.1}}
mkdir -p "$cache"

# Debian's 5.10 images have no CONFIG_TLS: that one is built from Debian's source.
[[ $series == 5.10 ]] && exec "$here/build-kernel-5.10.sh"

# Newest generic flavour only: -cloud lacks many modules, -rt behaves differently.
case $series in
6.1) pattern='^linux-image-6\.1\.0-[0-9]+-amd64-unsigned$' ;;
6.12) pattern='^linux-image-6\.12\.[0-9]+\+deb13-amd64-unsigned$' ;;
7.3) pattern='^linux-binary-7\.3\.[0-9]+\+deb[0-9]+-amd64$' ;;
*) echo "fetch-kernel: unknown kernel series '$series' (5.10, 6.1, 6.12 or 7.3)" >&2; exit 2 ;;
esac

newest() {
    "$here/apt.sh" apt-cache search --names-only "$pattern" 2>/dev/null | awk '{print $1}' | sort -V | tail -n 1
}

# An already unpacked kernel of the series, newest first: used when the
# package index cannot be reached (offline machine).
unpacked() {
    find "$cache" -maxdepth 1 -name "kernel-$series.*.done" -printf '%f\n' |
        sed -n 's/^kernel-\(.*\)\.done$/\1/p' | sort -V | tail -n 1
}

pkg=$(newest || true)
if [[ -z $pkg ]]; then
    done_kver=$(unpacked)
    [[ -n $done_kver ]] && { echo "$done_kver"; exit 0; }
    echo "fetch-kernel: no package matching $pattern in the private index (tests/vm/apt.sh)" >&2
    exit 1
fi

case $series in
7.3)
    kver=${pkg#linux-binary-}
    pkgs=("$pkg" "linux-modules-$kver" "linux-base-$kver")
    ;;
*)
    kver=${pkg#linux-image-}
    kver=${kver%-unsigned}
    pkgs=("$pkg")
    ;;
esac
root=$cache/kernel-$kver

exec 9>"$cache/kernel-$kver.lock"
flock 9
# The .done marker is written last, so an interrupted unpack is redone.
if [[ ! -e $root.done ]]; then
    echo "fetch-kernel: downloading ${pkgs[*]} into $cache" >&2
    rm -rf "$root" "$cache/debs-$kver"
    mkdir -p "$cache/debs-$kver" "$root/unpacked"
    # apt-get download writes into the current directory and checks the
    # package's hash against the signed index.
    (cd "$cache/debs-$kver" && "$here/apt.sh" apt-get -q download "${pkgs[@]}" >&2)
    for deb in "$cache/debs-$kver"/*.deb; do
        dpkg-deb -x "$deb" "$root/unpacked"
    done
    rm -rf "$cache/debs-$kver"
    for m in "$root/unpacked/lib/modules/$kver" "$root/unpacked/usr/lib/modules/$kver"; do
        [[ -d $m/kernel ]] && ln -sfn "${m#"$root"/}" "$root/modules"
    done
    for v in "$root/unpacked/boot/vmlinuz-$kver" "$root/unpacked/usr/lib/modules/$kver/vmlinuz"; do
        [[ -f $v ]] && ln -sfn "${v#"$root"/}" "$root/vmlinuz"
    done
    [[ -f $root/vmlinuz ]] || { echo "fetch-kernel: ${pkgs[*]} hold no vmlinuz for $kver" >&2; exit 1; }
    [[ -d $root/modules/kernel ]] || { echo "fetch-kernel: ${pkgs[*]} hold no modules for $kver" >&2; exit 1; }
    [[ -f $root/modules/modules.order ]] || { echo "fetch-kernel: no modules.order for $kver" >&2; exit 1; }
    touch "$root.done"
fi
echo "$kver"
