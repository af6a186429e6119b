# Sourced: where downloads and builds that outlive a clone are kept (kernels,
# initramfs, OpenSSL builds, the private apt index), so a second clone or CI
# run on the same machine reuses them. KTLS_CACHE overrides the root;
# KTLS_VM_CACHE, the guest's part only.
KTLS_CACHE=${KTLS_CACHE:-${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/ktls-shim}
KTLS_VM_CACHE=${KTLS_VM_CACHE:-$KTLS_CACHE/vm}
export KTLS_CACHE KTLS_VM_CACHE
