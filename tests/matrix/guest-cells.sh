#!/usr/bin/env bash
# guest-cells.sh OPENSSL...: inside one guest boot, the core set
# (tests/matrix/core.list, or the list KTLS_MATRIX_LIST names) once per
# OpenSSL of the matrix, after the harness file. Each cell's TAP streams are introduced by a "# cell: KERNEL OPENSSL"
# line for tests/matrix/run.sh to count.
set -uo pipefail
cd "$(dirname "$0")/../.."
series=${KTLS_VM_KERNEL:-$(uname -r | cut -d. -f1-2)}
for ossl in "$@"; do
    echo "# cell: $series $ossl"
    start=$SECONDS
    KTLS_OSSL=$ossl bats --tap --timing tests/00-harness.bats
    while read -r file regex; do
        [[ -z $file || $file == \#* ]] && continue
        # "@rekey" at the end: only where the kernel follows KeyUpdates (6.14+)
        if [[ $regex == *" @rekey" ]]; then
            regex=${regex% @rekey}
            [[ $(printf '%s\n' 6.14 "$(uname -r | cut -d. -f1-2)" | sort -V | head -n1) == 6.14 ]] || continue
        fi
        if [[ -n $regex ]]; then
            KTLS_OSSL=$ossl bats --tap --timing --filter "$regex" "$file"
        else
            KTLS_OSSL=$ossl bats --tap --timing "$file"
        fi
    done <"${KTLS_MATRIX_LIST:-tests/matrix/core.list}"
    echo "# cell-time: $series $ossl $((SECONDS - start)) s"
done
