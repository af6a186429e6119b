#!/bin/sh
# The sidecar image's entrypoint: ktls-install DEST_DIR copies the library and
# the tools into DEST_DIR (an emptyDir the application container mounts) and
# prints ktls-check's verdict for this node. Without kTLS every connection
# simply stays in OpenSSL, so that verdict never fails the pod; a copy that
# fails does. KTLS_SRC (default /ktls) is where the files are.
set -eu
dest=${1:?usage: ktls-install DEST_DIR}
src=${KTLS_SRC:-/ktls}
cp "$src/libktls-shim.so" "$src/ktls-run" "$src/ktls-check" "$src/ktls-stats" "$dest/"
chmod 0644 "$dest/libktls-shim.so"
# the copy is checked, and a bad one fails the pod (inside echo's $(...) its
# failure was lost and the pod went on with exit 0)
if ! version=$("$src/ktls-run" --lib "$dest/libktls-shim.so" --version 2>&1); then
    echo "ktls-install: the copied library is not usable: $version" >&2
    exit 1
fi
echo "ktls-install: $(printf '%s' "$version" | tr '\n' ';') -> $dest"
if "$src/ktls-check"; then
    echo "ktls-install: kTLS works on this node"
else
    echo "ktls-install: no kTLS on this node (see above): connections will stay in OpenSSL"
fi
