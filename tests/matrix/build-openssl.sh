#!/usr/bin/env bash
# build-openssl.sh VERSION: an OpenSSL of the test matrix, built from the
# upstream source Debian ships (1.1.1w: bullseye; 3.5: the newest trixie 3.5.x
# whose source the mirror serves), shared libraries plus the `openssl`
# program, installed under the cache root (outside the clone) so later runs on
# this machine reuse it; a miss rebuilds, never fails. Prints the prefix.
# Every binary carries an RPATH to its own lib/, so programs built against it
# load it and not the distro's libssl.so.3 (3.5 has the same soname).
# VERSION 3.0 is the distro's own: prints "/usr" and builds nothing.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
vm=$(cd "$here/../vm" && pwd)
# shellcheck source=tests/vm/cache.sh
. "$vm/cache.sh"
want=${1:?usage: build-openssl.sh 1.1.1w|3.0|3.5}

case $want in
3.0) echo /usr; exit 0 ;;
1.1.1w) pattern='^1\.1\.1w-' ;;
3.5) pattern='^3\.5\.[0-9]+-' ;;
*) echo "build-openssl: unknown OpenSSL '$want' (1.1.1w, 3.0 or 3.5)" >&2; exit 2 ;;
esac

# What changes the build: this script. Kept in the directory name so an old
# build is never mistaken for a new one.
recipe=$(sha256sum "$0" | cut -c1-12)
root=$KTLS_CACHE/openssl
mkdir -p "$root"

# Debian source versions of that series, newest first.
candidates=$("$vm/apt.sh" apt-cache showsrc openssl 2>/dev/null | sed -n 's/^Version: //p' |
    grep -E "$pattern" | sort -Vr | uniq || true)

done_prefix() { # upstream version -> prefix if built
    local p=$root/$1-$recipe
    [[ -e $p.done && -x $p/bin/openssl ]] && echo "$p"
}

# Reuse a finished build of any candidate (or, offline, of the series).
for v in $candidates; do
    if p=$(done_prefix "${v%%-*}"); then echo "$p"; exit 0; fi
done
if [[ -z $candidates ]]; then
    p=$(find "$root" -maxdepth 1 -name "${want%w}*-$recipe.done" -printf '%f\n' | sort -V | tail -n1)
    [[ -n $p ]] && { echo "$root/${p%.done}"; exit 0; }
    echo "build-openssl: no openssl $want source in the private index (tests/vm/apt.sh)" >&2
    exit 1
fi

exec 9>"$root/build.lock"
flock 9
work=$(mktemp -d "$root/work.XXXXXX")
trap 'rm -rf "$work"' EXIT
got=
for v in $candidates; do
    if p=$(done_prefix "${v%%-*}"); then echo "$p"; exit 0; fi  # built while we waited
    # apt-get source checks every file against the signed Sources index; some
    # versions are listed but not served (404): take the next one.
    rm -rf "${work:?}"/*
    if (cd "$work" && "$vm/apt.sh" apt-get -qq source --download-only "openssl=$v" >&2); then
        got=$v
        break
    fi
    echo "build-openssl: openssl $v is listed but could not be downloaded; trying an older one" >&2
done
[[ -n $got ]] || { echo "build-openssl: no openssl $want source could be downloaded" >&2; exit 1; }

upstream=${got%%-*}
prefix=$root/$upstream-$recipe
echo "build-openssl: building OpenSSL $upstream into $prefix (once; 1-3 minutes)" >&2
tar -xzf "$work"/openssl_"$upstream".orig.tar.gz -C "$work"
src=$work/openssl-$upstream
rm -rf "$prefix"
# -O1 after OpenSSL's own -O3: the C compiles in about half the time (a
# fresh machine builds two OpenSSLs inside make test's budget), and the
# ciphers the tests use are OpenSSL's assembly either way
common=(--prefix="$prefix" --openssldir="$prefix/ssl" --libdir=lib shared no-tests
        "-Wl,-rpath,$prefix/lib" -Wl,--disable-new-dtags -O1)
# Left out: algorithms and subsystems no test and no TLS handshake of the
# suite touches (a third of the compile, 638 -> 418 CPU seconds for 3.5).
# Kept: everything of TLS, DTLS and QUIC, the ciphers and groups the kernel
# or OpenSSL's defaults use (ML-KEM, ML-DSA included), the openssl program.
unused=(no-engine no-comp no-srp no-ts no-cms no-ct no-rfc3779 no-sm2 no-sm3 no-sm4
        no-camellia no-aria no-seed no-idea no-rc2 no-rc4 no-rc5 no-md4 no-mdc2
        no-whirlpool no-bf no-cast no-gost no-siphash no-scrypt no-ec2m no-sctp)
if ! (
    cd "$src"
    case $upstream in
    1.1.1*) ./config "${common[@]}" "${unused[@]}" ;;
    # as Debian builds it: with OpenSSL's own kTLS available to programs that ask
    *) ./Configure linux-x86_64 "${common[@]}" "${unused[@]}" no-legacy no-cmp no-docs enable-ktls ;;
    esac
    make -s -j"$(nproc)"
    make -s install_sw
) >"$work/build.log" 2>&1; then
    tail -n 40 "$work/build.log" >&2
    echo "build-openssl: building OpenSSL $upstream failed (last lines above)" >&2
    exit 1
fi
"$prefix/bin/openssl" version | grep -q "OpenSSL $upstream" ||
    { echo "build-openssl: $prefix/bin/openssl is not $upstream" >&2; exit 1; }
touch "$prefix.done"
echo "$prefix"
