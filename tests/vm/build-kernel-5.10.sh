#!/usr/bin/env bash
# build-kernel-5.10.sh: Debian's 5.10 images are built without CONFIG_TLS (no
# tls.ko in linux-image-5.10.0-N-amd64*), so the 5.10 guest kernel is built
# here from Debian's own linux-source-5.10 with a small guest configuration
# (kernel-5.10.config over tinyconfig; kTLS as a module, as on Debian's later
# kernels). About 3 minutes on 2 cores; cached like the packaged kernels.
# Prints the kernel release on stdout; progress goes to stderr.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/vm/cache.sh
. "$here/cache.sh"
cache=$KTLS_VM_CACHE
mkdir -p "$cache"

pkg=linux-source-5.10
version=$("$here/apt.sh" apt-cache show "$pkg" 2>/dev/null | sed -n 's/^Version: //p' | sort -V | tail -n 1 || true)
inputs=$(cat "$0" "$here/kernel-5.10.config" | sha256sum | cut -c1-12)

if [[ -z $version ]]; then
    # offline: any earlier build of the same configuration
    kver=$(find "$cache" -maxdepth 1 -name "kernel-5.10.*-ktls-$inputs.done" -printf '%f\n' |
        sed -n 's/^kernel-\(.*\)\.done$/\1/p' | sort -V | tail -n 1)
    [[ -n $kver ]] && { echo "$kver"; exit 0; }
    echo "build-kernel-5.10: $pkg not in the private index (tests/vm/apt.sh)" >&2
    exit 1
fi
upstream=${version%%-*}              # 5.10.223-1 -> 5.10.223
kver=$upstream-ktls-$inputs
root=$cache/kernel-$kver

exec 9>"$cache/kernel-$kver.lock"
flock 9
if [[ -e $root.done ]]; then
    echo "$kver"
    exit 0
fi
for tool in flex bison bc make gcc; do
    command -v "$tool" >/dev/null || { echo "build-kernel-5.10: needs $tool (demo/install-deps.sh test)" >&2; exit 1; }
done
[[ -e /usr/include/libelf.h ]] || { echo "build-kernel-5.10: needs libelf-dev" >&2; exit 1; }

echo "build-kernel-5.10: building $pkg $version with tests/vm/kernel-5.10.config (a few minutes, once)" >&2
rm -rf "$root" "$cache/src-$kver"
mkdir -p "$cache/src-$kver" "$root"
(cd "$cache/src-$kver" && "$here/apt.sh" apt-get -q download "$pkg=$version" >&2)
dpkg-deb --fsys-tarfile "$cache/src-$kver"/*.deb | tar -xO ./usr/src/linux-source-5.10.tar.xz |
    tar -xJ -C "$cache/src-$kver"
src=$cache/src-$kver/linux-source-5.10
(
    cd "$src"
    make -s tinyconfig >/dev/null
    scripts/kconfig/merge_config.sh -m .config "$here/kernel-5.10.config" >/dev/null
    ./scripts/config --set-str LOCALVERSION "-ktls-$inputs" --disable LOCALVERSION_AUTO
    make -s olddefconfig >/dev/null
    # every line of the fragment must have survived olddefconfig
    grep -E '^CONFIG_' "$here/kernel-5.10.config" | while read -r want; do
        grep -qxF "$want" .config || { echo "build-kernel-5.10: $want did not stick" >&2; exit 1; }
    done
    make -s -j"$(nproc)" bzImage modules >&2
    [[ $(make -s kernelrelease) == "$kver" ]] || { echo "build-kernel-5.10: release is $(make -s kernelrelease), want $kver" >&2; exit 1; }
    make -s INSTALL_MOD_PATH="$root/unpacked" modules_install >&2
    cp arch/x86/boot/bzImage "$root/vmlinuz"
)
ln -sfn "unpacked/lib/modules/$kver" "$root/modules"
[[ -f $root/modules/kernel/net/tls/tls.ko ]] || { echo "build-kernel-5.10: no tls.ko was built" >&2; exit 1; }
rm -rf "$cache/src-$kver"
touch "$root.done"
echo "$kver"
