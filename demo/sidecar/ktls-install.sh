#!/bin/sh
# The sidecar image's entrypoint: ktls-install DEST_DIR copies the library and
# the tools into DEST_DIR (an emptyDir the application container mounts) and
# prints ktls-check's verdict for this node. Without kTLS every connection
# simply stays in OpenSSL, so that verdict never fails the pod; a copy that
# fails does. KTLS_SRC (default /ktls) is where the files are.
set -eu
dest=${1:?usage: ktls-install DEST_DIR}
src=${KTLS_SRC:-/ktls}
cp "$src/libktls-shim.so" "$src/ktls-run" "$src/ktls-check" "$dest/"
chmod 0644 "$dest/libktls-shim.so"
echo "ktls-install: $("$src/ktls-run" --lib "$dest/libktls-shim.so" --version | tr '\n' ';' | sed 's/;$//') -> $dest"
if "$src/ktls-check"; then
    echo "ktls-install: kTLS works on this node"
else
    echo "ktls-install: no kTLS on this node (see above): connections will stay in OpenSSL"
fi
