#!/usr/bin/env python3
"""tclient.py: the seeded peer of tests/torture/programs.sh.

  tclient.py client --port P [options]   talks HTTP/1.1 (--http), the
                                          framed protocol below, or to an
                                          echo server (--echo) to a server
  tclient.py server [options]            the framed protocol's server (the
                                          CPython scenario); prints "PORT n"

Framed protocol: the client sends "UP DOWN INDEX\\n", then UP bytes; the server
answers with DOWN bytes, then ends as told. Every payload byte comes from a
seeded generator, so both runs of a seed send the same bytes.

Prints what a user could observe, one line per connection (sorted, so that
the order in which parallel connections finish does not matter):
  conn I: status=... got=N sha=HEX end=HOW
where HOW is close_notify (a clean TLS close), eof (TCP FIN without
close_notify), rst, alert:REASON, error:REASON or timeout. Payload bytes
are not printed, only their length and sha256."""
import argparse, hashlib, os, random, signal, socket, ssl, struct, subprocess, sys, threading, time


def payload(seed, n):
    return random.Random(seed).randbytes(n)


def end_of(exc):
    """How a read ended, as a user of Python's ssl module sees it"""
    if exc is None:
        return "close_notify"
    if isinstance(exc, ssl.SSLEOFError):
        return "eof"
    if isinstance(exc, ssl.SSLZeroReturnError):
        return "close_notify"
    if isinstance(exc, ConnectionResetError):
        return "rst"
    if isinstance(exc, BrokenPipeError):
        return "epipe"
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return "timeout"
    if isinstance(exc, ssl.SSLError):
        reason = exc.reason or exc.__class__.__name__
        return ("alert:" if "ALERT" in reason else "error:") + reason
    return "error:" + exc.__class__.__name__


def context(args, server):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER if server else ssl.PROTOCOL_TLS_CLIENT)
    if server:
        ctx.load_cert_chain(args.cert, args.key)
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    v = ssl.TLSVersion.TLSv1_3 if args.tls == "1.3" else ssl.TLSVersion.TLSv1_2
    ctx.minimum_version = ctx.maximum_version = v
    if args.cipher:
        ctx.set_ciphers(args.cipher)
    # an EOF without close_notify must read as one: the guests' OpenSSL
    # configuration turns SSL_OP_IGNORE_UNEXPECTED_EOF on for every new
    # context (measured: 6.1 guest, not this host), and a truncation then
    # looks like a clean close
    ctx.options &= ~ssl.OP_IGNORE_UNEXPECTED_EOF
    return ctx


def raw_send(sock, data):
    """bytes straight onto the TCP socket, past TLS (this end is never
    shimmed when it does this: a kTLS TX would encrypt them)"""
    with socket.socket(fileno=os.dup(sock.fileno())) as raw:
        raw.sendall(data)


def send_chunked(sock, data, chunk, pause):
    for i in range(0, len(data), chunk):
        sock.sendall(data[i:i + chunk])
        if pause:
            time.sleep(pause)


def read_all(sock, args, limit_reset=None):
    """reads to the end; returns (bytes, exception or None). With
    limit_reset, stops after that many bytes (the caller resets)."""
    got = bytearray()
    while True:
        try:
            chunk = sock.recv(65536)
        except Exception as exc:  # the end is what we report
            return bytes(got), exc
        if not chunk:
            return bytes(got), None
        got += chunk
        if args.read_pause:
            time.sleep(args.read_pause)
        if limit_reset is not None and len(got) >= limit_reset:
            return bytes(got), "reset"


def one_client(args, index, results):
    seed = args.seed * 1000 + index
    up = payload(seed, args.up)
    status = "-"
    s = socket.socket()
    if args.rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, args.rcvbuf)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, args.rcvbuf)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.settimeout(args.timeout)
    try:
        s.connect(("127.0.0.1", args.port))
        t = context(args, False).wrap_socket(s, suppress_ragged_eofs=False)
    except Exception as exc:
        results[index] = "conn %d: handshake end=%s" % (index, end_of(exc))
        return
    try:
        if args.end in ("garbage", "truncate", "halfclose"):
            # after the server's side of the handshake: bytes that arrive
            # with the client's Finished keep that connection in OpenSSL
            # (a partial record buffered: the shim does not move it, as
            # OpenSSL's own kTLS would not), and so does a FIN that comes
            # before the server's handshake ended (the kernel attaches TLS
            # to an established socket only: ENOTCONN in CLOSE_WAIT); the
            # shimmed run could not show the offload it must
            time.sleep(0.5)
        if args.end == "garbage":
            # a record of application data that no key made: the peer's
            # MAC check fails
            raw_send(t, b"\x17\x03\x03\x00\x40" + random.Random(seed).randbytes(64))
        elif args.end == "truncate":
            # a record header that promises more than ever comes, then FIN
            raw_send(t, b"\x17\x03\x03\x40\x00" + random.Random(seed).randbytes(100))
            with socket.socket(fileno=os.dup(t.fileno())) as raw:
                raw.shutdown(socket.SHUT_WR)
        elif args.http:
            if args.path:
                head = "GET %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n" % args.path
                t.sendall(head.encode())
            else:
                head = ("PUT /upload/u%d.bin HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
                        "Content-Length: %d\r\n\r\n" % (index, len(up)))
                t.sendall(head.encode())
                send_chunked(t, up, args.chunk, args.pause)
        elif args.echo:
            # an echo server (gnutls-serv --echo, which answers whole lines):
            # the payload as hex lines, each chunk of whole lines, then its
            # echo, in lock-step (no side ever waits on a full buffer)
            text = b"".join(up[i:i + 32].hex().encode() + b"\n" for i in range(0, len(up), 32))
            lines_per_chunk = max(1, args.chunk // 65)
            step = 65 * lines_per_chunk
            echoed = bytearray()
            for i in range(0, len(text), step):
                part = text[i:i + step]
                t.sendall(part)
                want = len(echoed) + len(part)
                while len(echoed) < want:
                    c = t.recv(want - len(echoed))
                    if not c:
                        raise ssl.SSLEOFError("eof before the echo")
                    echoed += c
                if args.pause:
                    time.sleep(args.pause)
            if args.end == "eof":
                # the end of the stream without close_notify
                with socket.socket(fileno=os.dup(t.fileno())) as raw:
                    raw.shutdown(socket.SHUT_WR)
            else:
                t.unwrap()
            results[index] = "conn %d: status=- got=%d sha=%s end=%s" % (
                index, len(echoed), hashlib.sha256(bytes(echoed)).hexdigest()[:16], args.end)
            t.close()
            return
        else:
            t.sendall(b"%d %d %d\n" % (len(up), args.down, index))
            send_chunked(t, up, args.chunk, args.pause)
        first = b""
        if args.end == "halfclose":
            if args.http:
                # an HTTP server's close sends close_notify unless one of
                # its reads met the FIN first: a race between the request's
                # last byte and the FIN, with OpenSSL alone too (nginx, 6.1
                # seed 4021861208, one of 30 connections): the FIN goes
                # once the response has begun
                first = t.recv(65536)
            with socket.socket(fileno=os.dup(t.fileno())) as raw:
                raw.shutdown(socket.SHUT_WR)
        got, exc = read_all(t, args, args.reset_after if args.end == "reset" else None)
        got = first + got
    except Exception as exc2:
        got, exc = b"", exc2
    body = got
    if args.http and b"\r\n\r\n" in got:
        head, body = got.split(b"\r\n\r\n", 1)
        status = head.split(b"\r\n", 1)[0].decode(errors="replace").replace(" ", "_")
    if exc == "reset":
        # SO_LINGER 0: close() sends RST mid-transfer
        t.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        how = "reset_by_us"
        body = b""  # how much arrived before the reset is timing
    else:
        how = end_of(exc)
        if exc is None:
            try:
                t.unwrap()
            except Exception:
                pass
    t.close()
    results[index] = "conn %d: status=%s got=%d sha=%s end=%s" % (
        index, status, len(body), hashlib.sha256(body).hexdigest()[:16], how)


async def one_async(args, index, results):
    """the framed protocol through asyncio's streams (SSLObject over memory
    BIOs: nothing of this end can be offloaded, its peer's can)"""
    import asyncio
    seed = args.seed * 1000 + index
    up = payload(seed, args.up)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", args.port, ssl=context(args, False))
        writer.write(b"%d %d %d\n" % (len(up), args.down, index))
        for i in range(0, len(up), args.chunk):
            writer.write(up[i:i + args.chunk])
            await writer.drain()
        got = await reader.read()
        how = "eof-or-close_notify"  # asyncio does not tell them apart
        writer.close()
        try:
            await writer.wait_closed()
        except Exception:
            pass
    except Exception as exc:
        got, how = b"", end_of(exc)
    results[index] = "conn %d: status=- got=%d sha=%s end=%s" % (
        index, len(got), hashlib.sha256(got).hexdigest()[:16], how)


def client(args):
    results = [None] * args.conns
    if args.asyncio:
        import asyncio
        async def all_of():
            await asyncio.gather(*(one_async(args, i, results) for i in range(args.conns)))
        asyncio.run(all_of())
        for line in results:
            print(line)
        return
    threads = [threading.Thread(target=one_client, args=(args, i, results)) for i in range(args.conns)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    for line in results:
        print(line)


PRINT = threading.Lock()


def say(line):
    """one whole line from a connection's thread (print() writes the line
    and its newline apart: two threads' lines could mix)"""
    with PRINT:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def serve_one(conn, args, index):
    try:
        line = b""
        while not line.endswith(b"\n"):
            c = conn.recv(1)
            if not c:
                raise ssl.SSLEOFError("eof before the header")
            line += c
        # the client's index, not the order of accepts, seeds the answer
        up, down, index = map(int, line.split())
        got = bytearray()
        while len(got) < up:
            c = conn.recv(min(65536, up - len(got)))
            if not c:
                break
            got += c
        if args.subprocess:
            # CPython's subprocess: vfork, then the child closes fds >= 3
            subprocess.run(["true"], check=True)
        send_chunked(conn, payload(args.seed * 7 + index, down), args.chunk, args.pause)
        how = "sent"
        if args.end == "close_notify":
            # SSL_shutdown waiting for the peer's close_notify returns
            # WANT_READ when a signal interrupts its read, and Python then
            # raises even on a blocking socket: a careful program calls it
            # again (how often a signal lands there is timing)
            for _ in range(10000):
                try:
                    conn.unwrap()
                    break
                except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                    continue
        elif args.end == "reset":
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        say("server conn: got=%d sha=%s end=%s" % (len(got), hashlib.sha256(got).hexdigest()[:16], how))
    except Exception as exc:
        say("server conn: end=%s" % end_of(exc))
    finally:
        conn.close()


def server(args):
    ctx = context(args, True)
    listener = socket.create_server(("127.0.0.1", 0))
    print("PORT", listener.getsockname()[1], flush=True)
    threads = []
    # the signaller stops before the interpreter ends: its exit puts the
    # default action back, and a late SIGALRM would kill the process
    stop = threading.Event()
    signaller_thread = None
    if args.signals:
        # a signal every millisecond to every connection's thread while
        # they run: their I/O calls are interrupted (EINTR; PEP 475 and
        # OpenSSL's retries). Sent to each thread: a signal to the process
        # would mostly land on the main thread, idle in join()
        signal.signal(signal.SIGALRM, lambda *_: None)
        def signaller():
            while not stop.is_set():
                for th in list(threads):
                    if th.is_alive():
                        try:
                            signal.pthread_kill(th.ident, signal.SIGALRM)
                        except (ProcessLookupError, OSError):
                            pass
                time.sleep(0.001)
        signaller_thread = threading.Thread(target=signaller, daemon=True)
        signaller_thread.start()
    for i in range(args.conns):
        raw, _ = listener.accept()
        try:
            conn = ctx.wrap_socket(raw, server_side=True, suppress_ragged_eofs=False)
        except Exception as exc:
            say("server conn: handshake end=%s" % end_of(exc))
            raw.close()
            continue
        th = threading.Thread(target=serve_one, args=(conn, args, i))
        th.start()
        threads.append(th)
    for th in threads:
        th.join()
    stop.set()
    if signaller_thread:
        signaller_thread.join()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("role", choices=["client", "server"])
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--tls", default="1.3")
    p.add_argument("--cipher", default="")
    p.add_argument("--http", action="store_true")
    p.add_argument("--path", default="")
    p.add_argument("--up", type=int, default=0)
    p.add_argument("--down", type=int, default=0)
    p.add_argument("--chunk", type=int, default=16384)
    p.add_argument("--pause", type=float, default=0)
    p.add_argument("--read-pause", type=float, default=0)
    p.add_argument("--rcvbuf", type=int, default=0)
    p.add_argument("--conns", type=int, default=1)
    p.add_argument("--end", default="normal")
    p.add_argument("--reset-after", type=int, default=65536)
    p.add_argument("--timeout", type=float, default=60)
    p.add_argument("--subprocess", action="store_true")
    p.add_argument("--asyncio", action="store_true")
    p.add_argument("--echo", action="store_true")
    p.add_argument("--signals", action="store_true")
    p.add_argument("--cert", default="")
    p.add_argument("--key", default="")
    args = p.parse_args()
    client(args) if args.role == "client" else server(args)


if __name__ == "__main__":
    main()
