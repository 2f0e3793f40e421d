"""A client of the chapter's wire format (4-byte big-endian length + JSON), written for the
interop tests: it pipelines N `add` requests on one connection, then checks that every reply
matches its request's id and sum. Usage: python3 rpc_client.py PORT N. Prints one JSON line."""
import asyncio
import json
import struct
import sys


def frame(message: dict) -> bytes:
    body = json.dumps(message).encode("utf-8")
    return struct.pack(">I", len(body)) + body


async def read_frame(reader: asyncio.StreamReader) -> dict:
    (size,) = struct.unpack(">I", await reader.readexactly(4))
    return json.loads(await reader.readexactly(size))


async def main(port: int, count: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
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
    writer.close()
    await writer.wait_closed()
    print(json.dumps({"missing": len(expected), "mismatched": mismatched, "errors": errors, "extra": extra}))


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), int(sys.argv[2])))
