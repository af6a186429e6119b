"""An HTTPS client whose TLS 1.3 Finished and first request leave in one
write (Python's MemoryBIO), so the server's own read layer (APR under
mod_ssl) reads the request ahead with the Finished; then more requests on
the same keep-alive connection, each answer checked.

coalesced_client.py PORT PATH BODY_SHA256 REQUESTS
Prints "REQUESTS ok=N of=M [error=...]"; exit 0 iff every request was answered
in full with that body."""
import hashlib
import socket
import ssl
import sys

port, path, want, count = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
ctx.minimum_version = ssl.TLSVersion.TLSv1_3
incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
tls = ctx.wrap_bio(incoming, outgoing, server_hostname="localhost")
sock = socket.create_connection(("127.0.0.1", port))
sock.settimeout(60)


def pull():
    data = sock.recv(65536)
    if not data:
        raise EOFError("the server closed the connection")
    incoming.write(data)


while True:
    try:
        tls.do_handshake()
        break
    except ssl.SSLWantReadError:
        sock.sendall(outgoing.read())
        pull()

request = f"GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode()
ok, error = 0, ""
try:
    for i in range(count):
        tls.write(request)
        # the first time: the client's Finished and this request together
        sock.sendall(outgoing.read())
        head = b""
        while b"\r\n\r\n" not in head:
            try:
                data = tls.read(65536)
                if not data:
                    raise EOFError("the server ended the TLS stream (close_notify) mid-answer")
                head += data
            except ssl.SSLWantReadError:
                pull()
        head, body = head.split(b"\r\n\r\n", 1)
        length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length:"))
        while len(body) < length:
            try:
                data = tls.read(65536)
                if not data:
                    raise EOFError(f"the server ended the TLS stream (close_notify) after {len(body)} of {length} body bytes")
                body += data
            except ssl.SSLWantReadError:
                pull()
        if not head.startswith(b"HTTP/1.1 200") or hashlib.sha256(body).hexdigest() != want:
            raise ValueError(f"request {i + 1}: {head.splitlines()[0]!r}, {len(body)} bytes")
        ok += 1
except (EOFError, ValueError, OSError, ssl.SSLError) as e:
    error = f" error={type(e).__name__}:{e} (request {ok + 1})".replace("\n", " ")
print(f"REQUESTS ok={ok} of={count}{error}")
sys.exit(0 if ok == count else 1)
