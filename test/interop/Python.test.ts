/** Interop with Python asyncio peers speaking the chapter's format, run as child processes. */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import * as ChildProcess from "node:child_process"
import * as Path from "node:path"
import * as RpcClient from "../../src/client/RpcClient.js"
import * as ChapterRpc from "../../src/protocol/ChapterRpc.js"
import * as JsonRpc from "../../src/protocol/JsonRpc.js"
import * as Protocol from "../../src/protocol/Protocol.js"
import * as RpcServer from "../../src/server/RpcServer.js"
import * as Server from "../../src/server/Server.js"
import { Calc, calcHandlers, Gates } from "../rpc/fixtures.js"

const dir = Path.join(import.meta.dirname, "python")
const N = 1_000

/** Runs a Python script to completion; its stdout. */
const runPython = (script: string, args: ReadonlyArray<string>) =>
  Effect.async<string, Error>((resume) => {
    const child = ChildProcess.execFile(
      "python3",
      [Path.join(dir, script), ...args],
      { timeout: 20_000 },
      (error, stdout, stderr) =>
        resume(error ? Effect.fail(new Error(`${error.message}\n${stderr}`)) : Effect.succeed(stdout))
    )
    return Effect.sync(() => child.kill())
  })

/** Starts the Python server; its port. Killed (stdin closed) when the scope closes. */
const pythonServer = Effect.acquireRelease(
  Effect.async<{ readonly port: number; readonly child: ChildProcess.ChildProcess }, Error>((resume) => {
    const child = ChildProcess.spawn("python3", [Path.join(dir, "rpc_server.py")], {
      stdio: ["pipe", "pipe", "inherit"]
    })
    child.once("error", (e) => resume(Effect.fail(e)))
    child.stdout.once("data", (d: Buffer) => resume(Effect.succeed({ port: Number(d.toString().trim()), child })))
  }),
  ({ child }) =>
    Effect.async<void>((resume) => {
      child.once("exit", () => resume(Effect.void))
      child.stdin?.end()
      if (child.exitCode !== null) resume(Effect.void)
    })
)

const Chapter = Protocol.make(
  Protocol.method("add", { params: { a: Schema.Number, b: Schema.Number }, success: Schema.Number }),
  Protocol.method("greet", { params: { name: Schema.String }, success: Schema.String }),
  Protocol.method("echo", { params: Schema.Unknown, success: Schema.Unknown }),
  Protocol.method("unknown_method", { params: Schema.Unknown, success: Schema.Unknown })
)

describe("interop with Python asyncio (the chapter's format)", () => {
  it.live("a Python client makes 1,000 pipelined requests to our server", () =>
    Effect.gen(function*() {
      const server = yield* Server.make(
        { port: 0 },
        RpcServer.handler(Calc, calcHandlers(new Gates()), { format: ChapterRpc.format, framing: ChapterRpc.framing() })
      )
      const out = JSON.parse(yield* runPython("rpc_client.py", [String(server.address.port), String(N)]))
      expect(out).toEqual({
        missing: 0,
        mismatched: 0,
        errors: 0,
        extra: { [N + 1]: "Hello, Python!", [N + 2]: { error: "Unknown method: no_such_method" } }
      })
    }).pipe(Effect.scoped))

  it.live("our client makes 1,000 pipelined calls to a Python server", () =>
    Effect.gen(function*() {
      const { port } = yield* pythonServer
      const client = yield* RpcClient.connect(Chapter, {
        port,
        format: ChapterRpc.format,
        framing: ChapterRpc.framing()
      })
      const sums = yield* Effect.forEach(
        Array.from({ length: N }, (_, i) => i),
        (i) => client.add({ a: i, b: 2 * i }),
        { concurrency: 64 }
      )
      expect(sums).toEqual(Array.from({ length: N }, (_, i) => 3 * i))
      expect(yield* client.greet({ name: "Effect" })).toBe("Hello, Effect!")
      expect(yield* client.echo({ data: [1, 2, 3], nested: { key: "value" } })).toEqual({
        data: [1, 2, 3],
        nested: { key: "value" }
      })
      const unknown = yield* Effect.flip(client.unknown_method({}))
      expect(unknown).toMatchObject({
        _tag: "RpcRemoteError",
        code: JsonRpc.METHOD_NOT_FOUND,
        detail: "Unknown method: unknown_method"
      })
    }).pipe(Effect.scoped))
})
