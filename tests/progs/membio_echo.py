"""membio_echo.py: Python's asyncio TLS (an SSLObject over two MemoryBIOs, the
program moving the bytes itself) as server and client in one process: N
bytes each way, printed as "RESULT sent_sha256=... received_sha256=...". The
shim must leave every direction in OpenSSL (custom-bio-memory)."""
import asyncio, hashlib, os, ssl, sys

CERT, KEY, SIZE = sys.argv[1], sys.argv[2], int(sys.argv[3])


async def main():
    payload = os.urandom(SIZE)
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(CERT, KEY)
    client_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client_ctx.check_hostname = False
    client_ctx.verify_mode = ssl.CERT_NONE
    got = {}

    async def serve(reader, writer):
        got["server"] = await reader.readexactly(SIZE)
        writer.write(payload)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=server_ctx)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=client_ctx)
    writer.write(payload)
    await writer.drain()
    got["client"] = await reader.readexactly(SIZE)
    writer.close()
    server.close()
    sha = lambda b: hashlib.sha256(b).hexdigest()
    print(f"RESULT sent_sha256={sha(payload)} server_received_sha256={sha(got['server'])} "
          f"client_received_sha256={sha(got['client'])}", flush=True)


asyncio.run(main())
