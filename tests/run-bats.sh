#!/usr/bin/env bash
# run-bats.sh host|vm [FILE.bats...]: the bats suite on this kernel, or inside
# the QEMU guest that has a real kTLS kernel. TAP on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:?usage: run-bats.sh host|vm [FILE.bats...]}
shift
files=("$@")
# shellcheck source=tests/test-path.sh
. tests/test-path.sh
[[ ${#files[@]} -gt 0 ]] || files=(tests/[0-9][0-9]-*.bats)
case $mode in
host)
    exec bats --tap "${files[@]}"
    ;;
vm)
    # In the guest a skip is a failure: nothing there may quietly not test.
    export KTLS_VM_ENV="${KTLS_VM_ENV:-} KTLS_STRICT KTLS_IN_GUEST"
    export KTLS_STRICT=1 KTLS_IN_GUEST=1
    # KTLS_VM_KERNEL (5.10, 6.1, 6.12, 7.3; default 6.1) picks the kernel.
    # 70 min: the guest stage took 34 min on an idle 2-core machine; CI stops at 90
    exec tests/vm/run-in-guest.sh --timeout "${KTLS_VM_TIMEOUT:-4500}" -- bats --tap --timing "${files[@]}"
    ;;
*)
    echo "run-bats.sh: unknown mode '$mode' (host|vm)" >&2
    exit 2
    ;;
esac
