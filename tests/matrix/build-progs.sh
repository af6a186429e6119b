#!/usr/bin/env bash
# build-progs.sh VERSION: the test programs built against one OpenSSL of the
# matrix (tests/matrix/build-openssl.sh), in build/ossl-VERSION/, with the
# prefix recorded in build/ossl-VERSION/.prefix for tests/helpers.bash.
# VERSION 3.0 is the distro's: the programs `make` already builds in build/.
# Prints the directory.
set -euo pipefail
cd "$(dirname "$0")/../.."
version=${1:?usage: build-progs.sh 1.1.1w|3.0|3.5}
if [[ $version == 3.0 ]]; then
    make -s all >&2
    echo "$PWD/build"
    exit 0
fi
prefix=$(tests/matrix/build-openssl.sh "$version")
dir=build/ossl-$version
# a new OpenSSL build (new prefix) means new programs
[[ -f $dir/.prefix && $(cat "$dir/.prefix") == "$prefix" ]] || rm -rf "$dir"
mkdir -p "$dir"
progs="tls_endpoint sendfile_check tls_threads two_openssl other_openssl.so seqfuzz"
# OpenSSL's own kTLS (the harness self-test) exists from 3.0 on
[[ $version == 1.1.1* ]] || progs+=" ossl_ktls_selftest"
make -s OSSL_PREFIX="$prefix" PROG_DIR="$dir" MATRIX_PROGS="$progs" matrix-progs >&2
echo "$prefix" >"$dir/.prefix"
echo "$PWD/$dir"
