"""A minimal client for `effect-wire serve json-rpc`: each request and response is one frame,
a 4-byte big-endian length followed by that many bytes of UTF-8 JSON.

Usage: python3 json_rpc_client.py PORT [HOST] [--cafile FILE]
With --cafile, speaks TLS (`serve json-rpc --tls-cert …`), trusting the CAs in FILE and checking
the certificate against HOST, as `ssl.create_default_context(cafile=...)` does.
Prints one line per exchange: the response as compact JSON.
"""
import asyncio
import json
import ssl
import struct
import sys


async def exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: dict) -> object:
    body = json.dumps(request).encode("utf-8")
    writer.write(struct.pack(">I", len(body)) + body)
    await writer.drain()
    (size,) = struct.unpack(">I", await reader.readexactly(4))
    return json.loads((await reader.readexactly(size)).decode("utf-8"))


async def main(port: int, host: str, cafile: "str | None") -> None:
    context = None if cafile is None else ssl.create_default_context(cafile=cafile)
    reader, writer = await asyncio.open_connection(host, port, ssl=context)
    requests = [
        {"id": 1, "method": "add", "params": {"a": 10, "b": 32}},
        {"id": 2, "method": "greet", "params": {"name": "Python"}},
        {"id": 3, "method": "echo", "params": {"data": [1, 2, 3], "nested": {"key": "value"}}},
        {"id": 4, "method": "unknown_method", "params": {}},
        {"jsonrpc": "2.0", "id": 5, "method": "add", "params": {"a": 1, "b": 2}},
    ]
    for request in requests:
        print(json.dumps(await exchange(reader, writer, request), separators=(",", ":")), flush=True)
    writer.close()
    await writer.wait_closed()


if __name__ == "__main__":
    args = sys.argv[1:]
    cafile = None
    if "--cafile" in args:
        at = args.index("--cafile")
        cafile = args[at + 1]
        del args[at : at + 2]
    asyncio.run(main(int(args[0]), args[1] if len(args) > 1 else "127.0.0.1", cafile))
