/**
 * The `effect-wire` CLI as a child process: `serve` talked to by a plain `node:net` client, by
 * `nc` (netcat-openbsd) and by a Python client; `call` / `send` against in-test servers; exit
 * codes and one-line errors. Children announce readiness with their "listening on" line.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { Buffer } from "node:buffer"
import { type ChildProcess, execFile, spawn } from "node:child_process"
import * as Net from "node:net"
import { fileURLToPath } from "node:url"
import * as Framing from "../../src/protocol/Framing.js"
import * as Message from "../../src/protocol/Message.js"
import * as Server from "../../src/server/Server.js"
import { jsonRpcServer } from "../../src/scenarios/json-rpc.js"
import * as Output from "../../src/scenarios/Output.js"

const root = fileURLToPath(new URL("../..", import.meta.url))
const CLI = ["--import", "tsx", "src/scenarios/cli.ts"]

interface Done {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

/** Runs the CLI to completion. */
const runCli = (args: ReadonlyArray<string>) =>
  Effect.async<Done>((resume) => {
    const child = execFile(process.execPath, [...CLI, ...args], { cwd: root, timeout: 60_000, env: { ...process.env, NO_COLOR: "1" } }, (error, stdout, stderr) =>
      resume(Effect.succeed({ code: child.exitCode ?? (error ? 1 : 0), stdout, stderr })))
  })

/** Starts `serve …` and waits for its "listening on host:port" line; SIGTERMs it when the scope closes. */
const serve = (args: ReadonlyArray<string>) =>
  Effect.acquireRelease(
    Effect.async<{ readonly child: ChildProcess; readonly port: number; readonly output: () => string; readonly exited: Promise<Done> }, Error>(
      (resume) => {
        const child = spawn(process.execPath, [...CLI, "serve", ...args, "--port", "0"], { cwd: root, env: { ...process.env, NO_COLOR: "1" } })
        let stdout = ""
        let stderr = ""
        let ready = false
        const exited = new Promise<Done>((done) => child.once("exit", (code) => done({ code, stdout, stderr })))
        child.stderr.on("data", (d: Buffer) => (stderr += d.toString()))
        child.stdout.on("data", (d: Buffer) => {
          stdout += d.toString()
          const m = /listening on 127\.0\.0\.1:(\d+)/.exec(stdout)
          if (m !== null && !ready) {
            ready = true
            resume(Effect.succeed({ child, port: Number(m[1]), output: () => stdout, exited }))
          }
        })
        void exited.then((d) => {
          if (!ready) resume(Effect.fail(new Error(`serve exited (${d.code}) before listening: ${d.stderr}`)))
        })
      }
    ),
    ({ child }) => Effect.sync(() => child.exitCode === null && child.kill("SIGKILL"))
  )

/** Stops a served child with SIGTERM and returns how it ended. */
const stop = (s: { readonly child: ChildProcess; readonly exited: Promise<Done> }) =>
  Effect.zipRight(Effect.sync(() => s.child.kill("SIGTERM")), Effect.promise(() => s.exited))

/** Sends `text` on a plain socket, half-closes, returns everything until the server closes. */
const netExchange = (port: number, text: string) =>
  Effect.async<string, Error>((resume) => {
    const socket = Net.connect({ host: "127.0.0.1", port })
    let got = ""
    socket.on("data", (d: Buffer) => (got += d.toString()))
    socket.once("error", (e) => resume(Effect.fail(e)))
    socket.once("close", () => resume(Effect.succeed(got)))
    socket.end(text)
  })

/** Pipes `input` through `command args…` and returns its stdout. */
const pipeThrough = (command: string, args: ReadonlyArray<string>, input: string) =>
  Effect.async<Done>((resume) => {
    const child = execFile(command, [...args], { timeout: 20_000 }, (error, stdout, stderr) =>
      resume(Effect.succeed({ code: child.exitCode ?? (error ? 1 : 0), stdout, stderr })))
    child.stdin?.end(input)
  })

describe("effect-wire CLI", { timeout: 90_000 }, () => {
  it.live("serve echo: a node:net client and nc get their echoes; SIGTERM stops it with a stats line and exit 0", () =>
    Effect.gen(function*() {
      const s = yield* serve(["echo"])
      expect(yield* netExchange(s.port, "hello\nworld\n")).toBe("ECHO: hello\nECHO: world\n")
      // netcat (netcat-openbsd, installed by .ci/run): request, then half-close with -N.
      const nc = yield* pipeThrough("nc", ["-N", "127.0.0.1", String(s.port)], "from netcat\n")
      expect(nc.stdout).toBe("ECHO: from netcat\n")
      const done = yield* stop(s)
      expect(done.code).toBe(0)
      expect(done.stdout).toMatch(new RegExp(`stopped: 2 connection\\(s\\) accepted, 0 active, 3 request\\(s\\), 0 error\\(s\\)`))
    }).pipe(Effect.scoped))

  it.live("serve echo --framing length-prefixed speaks 4-byte length frames", () =>
    Effect.gen(function*() {
      const s = yield* serve(["echo", "--framing", "length-prefixed", "--quiet"])
      const frame = Buffer.concat([Buffer.from([0, 0, 0, 2]), Buffer.from("hi")])
      const got = yield* netExchange(s.port, frame.toString("latin1"))
      expect(Buffer.from(got, "latin1")).toEqual(Buffer.concat([Buffer.from([0, 0, 0, 8]), Buffer.from("ECHO: hi")]))
      expect((yield* stop(s)).code).toBe(0)
    }).pipe(Effect.scoped))

  it.live("serve chat: netcat gets a welcome and its own message back with a timestamp", () =>
    Effect.gen(function*() {
      const s = yield* serve(["chat"])
      const got = yield* netExchange(s.port, "hi all\n")
      const lines = got.trimEnd().split("\n")
      expect(lines[0]).toMatch(/^welcome 127\.0\.0\.1:\d+, 1 client\(s\) online$/)
      expect(lines[1]).toMatch(/^\[\d\d:\d\d:\d\d\] 127\.0\.0\.1:\d+: hi all$/)
      const nc = yield* pipeThrough("nc", ["-N", "127.0.0.1", String(s.port)], "via nc\n")
      expect(nc.stdout).toMatch(/via nc\n$/)
      expect((yield* stop(s)).code).toBe(0)
    }).pipe(Effect.scoped))

  it.live("serve json-rpc: a Python asyncio client speaking the chapter's wire format", () =>
    Effect.gen(function*() {
      const s = yield* serve(["json-rpc"])
      const py = yield* pipeThrough("python3", ["test/scenarios/python/json_rpc_client.py", String(s.port)], "")
      expect(py.stderr).toBe("")
      expect(py.stdout.trimEnd().split("\n").map((l) => JSON.parse(l))).toEqual([
        { id: 1, result: 42 },
        { id: 2, result: "Hello, Python!" },
        { id: 3, result: { data: [1, 2, 3], nested: { key: "value" } } },
        { id: 4, result: { error: "Unknown method: unknown_method" } },
        { jsonrpc: "2.0", id: 5, result: 3 }
      ])
      expect((yield* stop(s)).code).toBe(0)
    }).pipe(Effect.scoped))

  it.live("call: one answer per message from a lines server, as text and as --json", () =>
    Effect.gen(function*() {
      const server = yield* Server.make(
        { port: 0 },
        Server.respond(Message.text(Framing.lines()), (m: string) => Effect.succeed(m.toUpperCase()))
      )
      const port = String(server.address.port)
      const text = yield* runCli(["call", "--port", port, "abc", "déf"])
      expect(text).toMatchObject({ code: 0, stdout: "ABC\nDÉF\n" })
      const json = yield* runCli(["call", "--port", port, "--json", "x"])
      expect(json.code).toBe(0)
      expect(JSON.parse(json.stdout)).toEqual({ request: "x", reply: "X" })
    }).pipe(Effect.scoped))

  it.live("call: JSON over length-prefixed frames, and JSON-RPC 2.0 (the typed server serve json-rpc runs)", () =>
    Effect.gen(function*() {
      const server = yield* jsonRpcServer({ port: 0, verbose: false, jsonRpc2: true }).pipe(Effect.provideService(Output.Output, Output.silent))
      const port = String(server.address.port)
      const json = yield* runCli(["call", "--port", port, "--framing", "length-prefixed", "--format", "json", `{"id":9,"method":"add","params":{"a":2,"b":3}}`])
      expect(json).toMatchObject({ code: 0, stdout: `{"id":9,"result":5}\n` })
      const rpc = yield* runCli(["call", "--port", port, "--framing", "length-prefixed", "--format", "jsonrpc", "greet", `{"name":"CLI"}`])
      expect(rpc).toMatchObject({ code: 0, stdout: `{"jsonrpc":"2.0","id":1,"result":"Hello, CLI!"}\n` })
    }).pipe(Effect.scoped))

  it.live("serve json-rpc and call --format jsonrpc / json agree on the framing with no --framing given", () =>
    Effect.gen(function*() {
      const s = yield* serve(["json-rpc", "--quiet"])
      const port = String(s.port)
      const rpc = yield* runCli(["call", "--port", port, "--format", "jsonrpc", "greet", `{"name":"CLI"}`])
      expect(rpc).toMatchObject({ code: 0, stdout: `{"jsonrpc":"2.0","id":1,"result":"Hello, CLI!"}\n`, stderr: "" })
      const json = yield* runCli(["call", "--port", port, "--format", "json", `{"id":9,"method":"add","params":{"a":2,"b":3}}`])
      expect(json).toMatchObject({ code: 0, stdout: `{"id":9,"result":5}\n`, stderr: "" })
      expect((yield* stop(s)).code).toBe(0)
    }).pipe(Effect.scoped))

  it.live("call exits 4 when the reply is a JSON-RPC error, after printing it", () =>
    Effect.gen(function*() {
      const server = yield* jsonRpcServer({ port: 0, verbose: false, jsonRpc2: true }).pipe(Effect.provideService(Output.Output, Output.silent))
      const done = yield* runCli(["call", "--port", String(server.address.port), "--framing", "length-prefixed", "--format", "jsonrpc", "nope"])
      expect(done.code).toBe(4)
      expect(JSON.parse(done.stdout)).toEqual({ jsonrpc: "2.0", id: 1, error: { code: -32601, message: "Unknown method: nope" } })
      expect(done.stderr.trimEnd().split("\n")).toHaveLength(1)
      expect(done.stderr).toContain(`127.0.0.1:${server.address.port} answered with error -32601: Unknown method: nope`)
    }).pipe(Effect.scoped))

  it.live("a reply in another framing is one line naming the framing expected and the --framing to try, exit 4", () =>
    Effect.gen(function*() {
      const server = yield* jsonRpcServer({ port: 0, verbose: false, jsonRpc2: true }).pipe(Effect.provideService(Output.Output, Output.silent))
      const port = server.address.port
      const done = yield* runCli(["call", "--port", String(port), "--framing", "lines", "--format", "jsonrpc", "add"])
      expect(done.code).toBe(4)
      expect(done.stdout).toBe("")
      expect(done.stderr.trimEnd().split("\n")).toHaveLength(1)
      expect(done.stderr).toContain(`127.0.0.1:${port}: the reply is not lines framing (`)
      expect(done.stderr).toContain("is the server using another framing? try --framing length-prefixed")
      expect(done.stderr).not.toMatch(/\n\s+at /)
    }).pipe(Effect.scoped))

  it.live("serve: a client speaking another framing gets a line naming the framing the server expects", () =>
    Effect.gen(function*() {
      const s = yield* serve(["json-rpc", "--quiet"])
      // A line where a 4-byte length is expected: the server answers with a framing error and closes.
      yield* netExchange(s.port, `{"id":1,"method":"add"}\n`)
      const done = yield* stop(s)
      expect(done.code).toBe(0)
      expect(done.stdout).toMatch(/\[server\] 127\.0\.0\.1:\d+: the first request is not length-prefixed framing \(/)
      expect(done.stdout).toContain("is the client using another framing? try --framing lines")
    }).pipe(Effect.scoped))

  it.live("serve json-rpc: a frame nested 10,000 deep is refused (-32600) and the server goes on; one nested exactly 128 deep is echoed", () =>
    Effect.gen(function*() {
      const nested = (depth: number) => "[".repeat(depth) + "0" + "]".repeat(depth)
      const s = yield* serve(["json-rpc"])
      const port = String(s.port)
      // Sent raw: the CLI's own client refuses to write a value that deep.
      const payload = Buffer.from(`{"id":1,"method":"echo","params":${nested(10_000)}}`)
      const header = Buffer.alloc(4)
      header.writeUInt32BE(payload.length)
      const deep = yield* Effect.async<Buffer, Error>((resume) => {
        const socket = Net.connect({ host: "127.0.0.1", port: s.port })
        const parts: Array<Buffer> = []
        socket.on("data", (d: Buffer) => parts.push(d))
        socket.once("error", (e) => resume(Effect.fail(e)))
        socket.once("close", () => resume(Effect.succeed(Buffer.concat(parts))))
        socket.end(Buffer.concat([header, payload]))
      })
      expect(JSON.parse(deep.subarray(4).toString("utf8"))).toMatchObject({ id: null, error: { code: -32600 } })
      // The frame's own object is one level: params nested 127 deep make it exactly 128.
      const atLimit = yield* runCli(["call", "--port", port, "--format", "json", `{"id":2,"method":"echo","params":${nested(127)}}`])
      expect(atLimit.code).toBe(0)
      expect(JSON.parse(atLimit.stdout)).toEqual({ id: 2, result: JSON.parse(nested(127)) })
      expect(s.child.exitCode).toBeNull()
    }).pipe(Effect.scoped))

  it.live("send: prints every frame until the server closes", () =>
    Effect.gen(function*() {
      const server = yield* Server.make(
        { port: 0 },
        Server.respond(Message.text(Framing.lines()), (m: string) => Effect.succeed([m, m]))
      )
      const done = yield* runCli(["send", "--port", String(server.address.port), "a", "b"])
      expect(done).toMatchObject({ code: 0, stdout: "a\na\nb\nb\n" })
    }).pipe(Effect.scoped))

  it.live("a refused connection is one line naming host and port, exit code 3, no stack trace", () =>
    Effect.gen(function*() {
      // A port that was just free: bind, read it, close.
      const port = yield* Effect.scoped(Effect.map(Server.make({ port: 0 }, () => Effect.void), (s) => s.address.port))
      const done = yield* runCli(["call", "--port", String(port), "hello"])
      expect(done.code).toBe(3)
      expect(done.stdout).toBe("")
      expect(done.stderr.trimEnd().split("\n")).toHaveLength(1)
      expect(done.stderr).toContain(`cannot connect to 127.0.0.1:${port}`)
      expect(done.stderr).toContain("is the server running")
      expect(done.stderr).not.toMatch(/\n\s+at /)
    }))

  it.live("bad usage exits with code 2; invalid JSON for --format json too", () =>
    Effect.gen(function*() {
      expect((yield* runCli(["scenario", "nope"])).code).toBe(2)
      const bad = yield* runCli(["call", "--port", "1", "--format", "json", "{oops"])
      expect(bad.code).toBe(2)
      expect(bad.stderr).toContain("not valid JSON")
    }))

  it.live("scenario echo runs and exits 0 with its verdict", () =>
    Effect.gen(function*() {
      const done = yield* runCli(["scenario", "echo"])
      expect(done.code).toBe(0)
      expect(done.stdout).toContain("✔ echo: 3/3 echoes correct")
      expect(done.stdout).not.toContain("\x1b[")
    }))
})
