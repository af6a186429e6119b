#!/usr/bin/env bash
# Build the guest initramfs: static busybox + tests/vm/init + the modules needed
# to mount the host over virtio-9p and to use kernel TLS.
# Usage: build-initramfs.sh [KVER]   (default: whatever fetch-kernel.sh picks)
# Prints the path of the initramfs on stdout.
# KTLS_VM_BREAK_CRYPTO=1 leaves the crypto modules out (separate file name), so
# TLS_TX/TLS_RX cannot load gcm(aes): used to prove the self-test then fails.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/vm/cache.sh
. "$here/cache.sh"
cache=$KTLS_VM_CACHE
kver=${1:-$("$here/fetch-kernel.sh")}
kroot=$cache/kernel-$kver
mods=$kroot/modules
busybox=/bin/busybox
break_crypto=${KTLS_VM_BREAK_CRYPTO:-0}

[[ -d $mods/kernel ]] || { echo "build-initramfs: $mods missing; run fetch-kernel.sh" >&2; exit 1; }
[[ -x $busybox ]] || { echo "build-initramfs: $busybox missing (apt-get install busybox-static)" >&2; exit 1; }

suffix=
[[ $break_crypto == 1 ]] && suffix=-nocrypto
out=$cache/initramfs-$kver$suffix.cpio.gz

# Rebuild only when an input changed: hash them rather than trusting mtimes,
# which git checkouts reset.
inputs=$(cat "$0" "$here/init" "$busybox" "$kroot/vmlinuz" "$mods/modules.order" |
    sha256sum | cut -d' ' -f1)
if [[ -f $out && -f $out.inputs && $(cat "$out.inputs") == "$inputs" ]]; then
    echo "$out"
    exit 0
fi
echo "build-initramfs: building $out" >&2

stage=$(mktemp -d "$cache/initramfs.XXXXXX")
trap 'rm -rf "$stage" "$stage.cpio.gz"' EXIT
mkdir -p "$stage"/{bin,sbin,etc,dev,proc,sys,host,host-results,lib/modules/"$kver"}
cp "$busybox" "$stage/bin/busybox"
# Applets init uses. /sbin/modprobe matters most: the kernel execs it to load
# crypto algorithms (gcm(aes), ...) when TLS_TX/TLS_RX are set.
for a in sh ash cat echo mkdir mount umount insmod modprobe depmod chroot ip \
    poweroff sleep env uname mv rm ls ln sync test '['; do
    ln -s /bin/busybox "$stage/bin/$a"
done
ln -s /bin/busybox "$stage/sbin/modprobe"
install -m 0755 "$here/init" "$stage/init"

# Modules needed to boot and mount the host; builtin ones are skipped. The
# optional ones exist only in some kernels (5.10 has no netfs; later kernels
# split virtio_pci's helpers out); the stage's modules.dep is checked below.
boot_mods="virtio virtio_ring virtio_pci_modern_dev? virtio_pci_legacy_dev? virtio_pci
    netfs? fscache? 9pnet 9pnet_virtio 9p tls"
boot_files=()
for m in $boot_mods; do
    optional=0
    [[ $m == *\? ]] && { optional=1; m=${m%\?}; }
    f=$(cd "$mods" && find kernel \( -name "$m.ko" -o -name "$m.ko.xz" -o -name "$m.ko.zst" \) -print -quit)
    if [[ -z $f ]]; then
        grep -q "/$m\.ko$" "$mods/modules.builtin" || [[ $optional == 1 ]] ||
            { echo "build-initramfs: module $m neither built in nor present in $kver" >&2; exit 1; }
        continue
    fi
    mkdir -p "$stage/lib/modules/$kver/$(dirname "$f")"
    cp "$mods/$f" "$stage/lib/modules/$kver/$f"
    f=${f%.xz}
    boot_files+=("${f%.zst}")
done

# Crypto for on-demand loading via modprobe.
if [[ $break_crypto != 1 ]]; then
    for d in kernel/crypto kernel/arch/x86/crypto kernel/lib/crypto kernel/net/tls; do
        [[ -d $mods/$d ]] || continue
        mkdir -p "$stage/lib/modules/$kver/$d"
        cp -r "$mods/$d/." "$stage/lib/modules/$kver/$d/"
    done
fi
cp "$mods"/modules.order "$mods"/modules.builtin "$stage/lib/modules/$kver/"

# busybox insmod/modprobe may lack xz/zstd support: store modules uncompressed.
find "$stage/lib/modules" -name '*.ko.xz' -exec xz -d {} +
find "$stage/lib/modules" -name '*.ko.zst' -exec zstd -q -d --rm {} +
"$busybox" depmod -b "$stage" "$kver"

# init insmods these one by one, so list them dependencies first (e.g. virtio
# needs virtio_ring), as modules.dep says.
dep=$stage/lib/modules/$kver/modules.dep
declare -A seen=()
add_in_order() {
    local d
    [[ -z ${seen[$1]:-} ]] || return 0
    seen[$1]=1
    # shellcheck disable=SC2013  # modules.dep lists deps as words on one line
    for d in $(sed -n "s|^$1: *||p" "$dep"); do
        [[ -f $stage/lib/modules/$kver/$d ]] ||
            { echo "build-initramfs: $1 needs $d, which is not in the initramfs" >&2; exit 1; }
        add_in_order "$d"
    done
    echo "$1" >>"$stage/etc/ktls-vm-modules"
}
: >"$stage/etc/ktls-vm-modules"
for f in "${boot_files[@]}"; do add_in_order "$f"; done

# Unique temp name + mv: parallel runs never see a half-written file.
(cd "$stage" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) | gzip -1 >"$stage.cpio.gz"
mv "$stage.cpio.gz" "$out"
echo "$inputs" >"$out.inputs"
echo "$out"
