"""Python asyncio TLS peers for the TLS interop tests, with the standard library's `ssl` module
(`ssl.create_default_context`). Every mode prints one JSON line when done (the servers: their port
first, then serve until stdin closes).

  tls_peer.py client PORT CAFILE [CERT KEY] -- LINE...
      Connects over TLS (server name `localhost`, verified against CAFILE; with CERT / KEY a
      client certificate), writes each LINE, reads one reply line per LINE, prints
      {"replies": [...], "version": ..., "cipher": ..., "peer_cn": ...} or {"error": ...}.
  tls_peer.py hold PORT CAFILE LINE
      Connects over TLS as `client` does, writes LINE, prints {"reply": ...} once its reply came,
      then reads until the server closes and prints {"ended": "eof", "extra": ...} (a clean close:
      close_notify, then EOF) or {"ended": "error", "detail": ...} (e.g. an EOF without
      close_notify, which Python's ssl reports as an error).
  tls_peer.py rpc-client PORT CAFILE N
      The chapter's format (4-byte length + JSON, see rpc_client.py) over TLS: N pipelined adds,
      a greet and an unknown method; prints what rpc_client.py prints.
  tls_peer.py plain PORT
      Plain TCP, no TLS: writes a line and reads until the server closes; prints
      {"received": HEX, "ended": "eof" | "reset"}.
  tls_peer.py silent PORT
      Plain TCP that sends nothing (a peer that never starts its handshake): reads until the
      server closes; prints the same as `plain`.
  tls_peer.py stall ADDRESS
      Plain TCP (ADDRESS: a port) or a Unix socket (ADDRESS: unix:PATH) that sends nothing:
      prints {"connected": true} once connected, then {"ended": "eof" | "reset"} when the server
      closes.
  tls_peer.py line-server CERT KEY [CAFILE]
      A TLS line server: answers each line with "PY <cn> <line>" (<cn>: the client
      certificate's CN, or "-"); with CAFILE a client certificate is required (mutual TLS).
  tls_peer.py rpc-server CERT KEY
      The chapter's server (see rpc_server.py) over TLS.
"""
import asyncio
import json
import os
import ssl
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rpc_client import frame, read_frame  # noqa: E402
from rpc_server import reply_for  # noqa: E402


def client_context(cafile: str, cert: str = None, key: str = None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=cafile)
    if cert is not None:
        ctx.load_cert_chain(cert, key)
    return ctx


def subject_cn(cert) -> str:
    for rdn in (cert or {}).get("subject", ()):
        for name, value in rdn:
            if name == "commonName":
                return value
    return "-"


async def line_client(port: int, cafile: str, cert, key, lines) -> dict:
    try:
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", port, ssl=client_context(cafile, cert, key), server_hostname="localhost")
    except (ssl.SSLError, OSError) as e:
        return {"error": type(e).__name__, "detail": str(e)}
    sslobj = writer.get_extra_info("ssl_object")
    out = {
        "version": sslobj.version(),
        "cipher": sslobj.cipher()[0],
        "peer_cn": subject_cn(writer.get_extra_info("peercert")),
        "replies": [],
    }
    try:
        for line in lines:
            writer.write(line.encode("utf-8") + b"\n")
            await writer.drain()
            reply = await reader.readline()
            if not reply:
                out["ended"] = "eof"
                break
            out["replies"].append(reply.decode("utf-8").rstrip("\n"))
    except (ssl.SSLError, OSError) as e:
        out["error"] = type(e).__name__
        out["detail"] = str(e)
    writer.close()
    try:
        await writer.wait_closed()
    except (ssl.SSLError, OSError):
        pass
    return out


async def hold(port: int, cafile: str, line: str) -> None:
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", port, ssl=client_context(cafile), server_hostname="localhost")
    writer.write(line.encode("utf-8") + b"\n")
    await writer.drain()
    reply = await reader.readline()
    print(json.dumps({"reply": reply.decode("utf-8").rstrip("\n")}), flush=True)
    extra = b""
    try:
        while True:
            chunk = await reader.read(4096)
            if not chunk:
                break
            extra += chunk
        print(json.dumps({"ended": "eof", "extra": extra.decode("utf-8")}), flush=True)
    except (ssl.SSLError, OSError) as e:
        print(json.dumps({"ended": "error", "detail": "%s: %s" % (type(e).__name__, e)}), flush=True)
    writer.close()


async def rpc_client(port: int, cafile: str, count: int) -> dict:
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", port, ssl=client_context(cafile), server_hostname="localhost")
    expected = {}
    for i in range(1, count + 1):
        expected[i] = i + 2 * i
        writer.write(frame({"id": i, "method": "add", "params": {"a": i, "b": 2 * i}}))
    writer.write(frame({"id": count + 1, "method": "greet", "params": {"name": "Python"}}))
    writer.write(frame({"id": count + 2, "method": "no_such_method", "params": {}}))
    await writer.drain()
    mismatched = errors = 0
    extra = {}
    for _ in range(count + 2):
        reply = await read_frame(reader)
        rid = reply.get("id")
        if "error" in reply:
            errors += 1
        elif rid in expected:
            if expected.pop(rid) != reply["result"]:
                mismatched += 1
        else:
            extra[str(rid)] = reply["result"]
    version = writer.get_extra_info("ssl_object").version()
    writer.close()
    await writer.wait_closed()
    return {"missing": len(expected), "mismatched": mismatched, "errors": errors, "extra": extra, "version": version}


async def plain_client(port: int, greeting: bytes) -> dict:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(greeting)
    received = b""
    ended = "eof"
    try:
        await writer.drain()
        while True:
            chunk = await reader.read(4096)
            if not chunk:
                break
            received += chunk
    except ConnectionResetError:
        ended = "reset"
    writer.close()
    return {"received": received.hex(), "ended": ended}


async def stall(address: str) -> None:
    if address.startswith("unix:"):
        reader, writer = await asyncio.open_unix_connection(address[len("unix:"):])
    else:
        reader, writer = await asyncio.open_connection("127.0.0.1", int(address))
    print(json.dumps({"connected": True}), flush=True)
    ended = "eof"
    try:
        while await reader.read(4096):
            pass
    except ConnectionResetError:
        ended = "reset"
    print(json.dumps({"ended": ended}), flush=True)
    writer.close()


def server_context(cert: str, key: str, cafile: str = None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    if cafile is not None:
        ctx.load_verify_locations(cafile)
        ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


async def serve_lines(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    cn = subject_cn(writer.get_extra_info("peercert"))
    try:
        while True:
            line = await reader.readline()
            if not line:
                break
            writer.write(b"PY " + cn.encode("utf-8") + b" " + line)
            await writer.drain()
    except (ssl.SSLError, OSError):
        pass
    finally:
        writer.close()


async def serve_rpc(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            try:
                (size,) = struct.unpack(">I", await reader.readexactly(4))
                request = json.loads(await reader.readexactly(size))
            except asyncio.IncompleteReadError:
                break
            body = json.dumps(reply_for(request)).encode("utf-8")
            writer.write(struct.pack(">I", len(body)) + body)
            await writer.drain()
    except (ssl.SSLError, OSError):
        pass
    finally:
        writer.close()


async def serve(handler, ctx: ssl.SSLContext) -> None:
    server = await asyncio.start_server(handler, "127.0.0.1", 0, ssl=ctx)
    print(server.sockets[0].getsockname()[1], flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)  # until the test closes stdin
    server.close()


def main(argv) -> None:
    mode = argv[0]
    if mode == "client":
        port, cafile = int(argv[1]), argv[2]
        sep = argv.index("--")
        cert, key = (argv[3], argv[4]) if sep == 5 else (None, None)
        print(json.dumps(asyncio.run(line_client(port, cafile, cert, key, argv[sep + 1:]))), flush=True)
    elif mode == "hold":
        asyncio.run(hold(int(argv[1]), argv[2], argv[3]))
    elif mode == "rpc-client":
        print(json.dumps(asyncio.run(rpc_client(int(argv[1]), argv[2], int(argv[3])))), flush=True)
    elif mode == "plain":
        print(json.dumps(asyncio.run(plain_client(int(argv[1]), b"hello, this is not TLS\n"))), flush=True)
    elif mode == "silent":
        print(json.dumps(asyncio.run(plain_client(int(argv[1]), b""))), flush=True)
    elif mode == "stall":
        asyncio.run(stall(argv[1]))
    elif mode == "line-server":
        asyncio.run(serve(serve_lines, server_context(argv[1], argv[2], argv[3] if len(argv) > 3 else None)))
    elif mode == "rpc-server":
        asyncio.run(serve(serve_rpc, server_context(argv[1], argv[2])))
    else:
        raise SystemExit("unknown mode: " + mode)


if __name__ == "__main__":
    main(sys.argv[1:])
