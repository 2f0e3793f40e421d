"""A server of the chapter's wire format (4-byte big-endian length + JSON) with the chapter's
methods (add, greet, echo; anything else answered {"error": "Unknown method: ..."} as a result),
written for the interop tests. Prints its port on the first line, serves until stdin closes."""
import asyncio
import json
import struct
import sys


def reply_for(request: dict) -> dict:
    method = request.get("method", "unknown")
    params = request.get("params", {})
    if method == "add":
        result = params.get("a", 0) + params.get("b", 0)
    elif method == "greet":
        result = "Hello, %s!" % params.get("name", "World")
    elif method == "echo":
        result = params
    else:
        result = {"error": "Unknown method: %s" % method}
    return {"id": request.get("id", 0), "result": result}


async def serve_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
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
    finally:
        writer.close()


async def main() -> None:
    server = await asyncio.start_server(serve_client, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)  # until the test closes stdin
    server.close()


if __name__ == "__main__":
    asyncio.run(main())
