#!/usr/bin/env bash
# Exit 0 when this kernel can attach the "tls" ULP: on an unconnected TCP
# socket setsockopt(TCP_ULP, "tls") gives ENOTCONN if the ULP exists, ENOENT
# if it does not.
exec python3 - <<'PY' 2>/dev/null
import errno, socket, sys
s = socket.socket()
try:
    s.setsockopt(socket.IPPROTO_TCP, 31, b"tls")
except OSError as e:
    sys.exit(0 if e.errno == errno.ENOTCONN else 1)
sys.exit(0)
PY
