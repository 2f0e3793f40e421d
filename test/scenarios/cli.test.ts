/**
 * The `effect-wire` CLI as a child process: `serve` talked to by a plain `node:net` client, by
 * `nc` (netcat-openbsd) and by a Python client; `call` / `send` against in-test servers; exit
 * codes and one-line errors. Children announce readiness with their "listening on" line.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { Buffer } from "node:buffer"
import { type ChildProcess, execFile, spawn } from "node:child_process"
import { X509Certificate } from "node:crypto"
import * as Fs from "node:fs"
import * as Net from "node:net"
import * as Os from "node:os"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import * as Connection from "../../src/connection/Connection.js"
import * as Framing from "../../src/protocol/Framing.js"
import * as Message from "../../src/protocol/Message.js"
import { jsonRpcServer } from "../../src/scenarios/json-rpc.js"
import * as Output from "../../src/scenarios/Output.js"
import * as Server from "../../src/server/Server.js"
import { type Certs, makeCerts, removeCerts } from "../connection/certs.js"

const root = fileURLToPath(new URL("../..", import.meta.url))
const CLI = ["--import", "tsx", "src/scenarios/cli.ts"]

interface Done {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

/** Runs the CLI to completion (stdout and stderr are pipes; `NO_COLOR=1` unless `env` says otherwise). */
const runCli = (args: ReadonlyArray<string>, env: Record<string, string | undefined> = { NO_COLOR: "1" }) =>
  Effect.async<Done>((resume) => {
    const child = execFile(process.execPath, [...CLI, ...args], {
      cwd: root,
      timeout: 60_000,
      env: { ...process.env, ...env }
    }, (error, stdout, stderr) => resume(Effect.succeed({ code: child.exitCode ?? (error ? 1 : 0), stdout, stderr })))
  })

/** Runs the CLI with stdout and stderr on a pseudo-terminal (util-linux `script`); returns what the terminal showed. */
const runCliOnTty = (args: ReadonlyArray<string>, env: Record<string, string | undefined>) =>
  Effect.async<Done>((resume) => {
    const command = [process.execPath, ...CLI, ...args].map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(" ")
    const child = execFile("script", ["-qec", command, "/dev/null"], {
      cwd: root,
      timeout: 60_000,
      env: { ...process.env, NO_COLOR: undefined, ...env }
    }, (error, stdout, stderr) => resume(Effect.succeed({ code: child.exitCode ?? (error ? 1 : 0), stdout, stderr })))
    child.stdin?.end()
  })

/** The timeout of a test that runs a dozen CLI processes (each loads tsx and effect: seconds on a busy machine). */
const SPAWNS_MANY = 240_000

/** Expects a usage error: exit 2, nothing on stdout, one line on stderr containing every `parts`. */
const expectUsageError = (done: Done, ...parts: ReadonlyArray<string>) => {
  expect({ code: done.code, stdout: done.stdout, lines: done.stderr.trimEnd().split("\n").length }).toEqual({
    code: 2,
    stdout: "",
    lines: 1
  })
  expect(done.stderr).toMatch(/^effect-wire: /)
  for (const part of parts) expect(done.stderr).toContain(part)
}

/** Runs every `cases` (argv, then the parts the error line must contain) at once, and checks each is a usage error. */
const expectUsageErrors = (cases: ReadonlyArray<readonly [ReadonlyArray<string>, ...Array<string>]>) =>
  Effect.forEach(cases, ([args, ...parts]) =>
    Effect.map(runCli(args), (done) => {
      try {
        expectUsageError(done, ...parts)
      } catch (e) {
        throw new Error(`effect-wire ${args.join(" ")}: ${(e as Error).message}\nstderr: ${done.stderr}`, { cause: e })
      }
    }), { concurrency: 4, discard: true })

/** Connects a plain socket; resolves with what it received when it closes. */
const connectUntilClose = (port: number) =>
  Effect.async<{ readonly socket: Net.Socket; readonly closed: Promise<string> }, Error>((resume) => {
    const socket = Net.connect({ host: "127.0.0.1", port })
    let got = ""
    socket.on("data", (d: Buffer) => (got += d.toString()))
    socket.on("error", () => {})
    const closed = new Promise<string>((done) => socket.once("close", () => done(got)))
    socket.once("connect", () => resume(Effect.succeed({ socket, closed })))
    socket.once("error", (e) => resume(Effect.fail(e)))
  })

/** Writes `text` and waits for `expected` to have arrived (the socket's received text so far). */
const exchangeOn = (socket: Net.Socket, text: string, expected: string) =>
  Effect.async<void>((resume) => {
    let got = ""
    const onData = (d: Buffer) => {
      got += d.toString()
      if (got.includes(expected)) {
        socket.off("data", onData)
        resume(Effect.void)
      }
    }
    socket.on("data", onData)
    socket.write(text)
  })

/**
 * Starts `serve …` (with `--port 0` unless `at` is `"as given"`, e.g. with `--path`) and waits for
 * its "listening on host:port" (or "listening on PATH") line; kills it when the scope closes.
 */
const serve = (args: ReadonlyArray<string>, at: "port 0" | "as given" = "port 0") =>
  Effect.acquireRelease(
    Effect.async<
      {
        readonly child: ChildProcess
        readonly port: number
        readonly output: () => string
        readonly exited: Promise<Done>
      },
      Error
    >(
      (resume) => {
        const argv = [...CLI, "serve", ...args, ...(at === "port 0" ? ["--port", "0"] : [])]
        const child = spawn(process.execPath, argv, { cwd: root, env: { ...process.env, NO_COLOR: "1" } })
        let stdout = ""
        let stderr = ""
        let ready = false
        const exited = new Promise<Done>((done) => child.once("exit", (code) => done({ code, stdout, stderr })))
        child.stderr.on("data", (d: Buffer) => (stderr += d.toString()))
        child.stdout.on("data", (d: Buffer) => {
          stdout += d.toString()
          const m = /listening on (?:127\.0\.0\.1:(\d+)|\/\S+)/.exec(stdout)
          if (m !== null && !ready) {
            ready = true
            resume(Effect.succeed({ child, port: Number(m[1] ?? 0), output: () => stdout, exited }))
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
      expect(done.stdout).toMatch(
        new RegExp(`stopped: 2 connection\\(s\\) accepted, 0 active, 3 request\\(s\\), 0 error\\(s\\)`)
      )
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
      const server = yield* jsonRpcServer({ port: 0, verbose: false, jsonRpc2: true }).pipe(
        Effect.provideService(Output.Output, Output.silent)
      )
      const port = String(server.address.port)
      const json = yield* runCli([
        "call",
        "--port",
        port,
        "--framing",
        "length-prefixed",
        "--format",
        "json",
        `{"id":9,"method":"add","params":{"a":2,"b":3}}`
      ])
      expect(json).toMatchObject({ code: 0, stdout: `{"id":9,"result":5}\n` })
      const rpc = yield* runCli([
        "call",
        "--port",
        port,
        "--framing",
        "length-prefixed",
        "--format",
        "jsonrpc",
        "greet",
        `{"name":"CLI"}`
      ])
      expect(rpc).toMatchObject({ code: 0, stdout: `{"jsonrpc":"2.0","id":1,"result":"Hello, CLI!"}\n` })
    }).pipe(Effect.scoped))

  it.live("serve json-rpc and call --format jsonrpc / json agree on the framing with no --framing given", () =>
    Effect.gen(function*() {
      const s = yield* serve(["json-rpc", "--quiet"])
      const port = String(s.port)
      const rpc = yield* runCli(["call", "--port", port, "--format", "jsonrpc", "greet", `{"name":"CLI"}`])
      expect(rpc).toMatchObject({ code: 0, stdout: `{"jsonrpc":"2.0","id":1,"result":"Hello, CLI!"}\n`, stderr: "" })
      const json = yield* runCli([
        "call",
        "--port",
        port,
        "--format",
        "json",
        `{"id":9,"method":"add","params":{"a":2,"b":3}}`
      ])
      expect(json).toMatchObject({ code: 0, stdout: `{"id":9,"result":5}\n`, stderr: "" })
      expect((yield* stop(s)).code).toBe(0)
    }).pipe(Effect.scoped))

  it.live("call exits 4 when the reply is a JSON-RPC error, after printing it", () =>
    Effect.gen(function*() {
      const server = yield* jsonRpcServer({ port: 0, verbose: false, jsonRpc2: true }).pipe(
        Effect.provideService(Output.Output, Output.silent)
      )
      const done = yield* runCli([
        "call",
        "--port",
        String(server.address.port),
        "--framing",
        "length-prefixed",
        "--format",
        "jsonrpc",
        "nope"
      ])
      expect(done.code).toBe(4)
      expect(JSON.parse(done.stdout)).toEqual({
        jsonrpc: "2.0",
        id: 1,
        error: { code: -32601, message: "Unknown method: nope" }
      })
      expect(done.stderr.trimEnd().split("\n")).toHaveLength(1)
      expect(done.stderr).toContain(`127.0.0.1:${server.address.port} answered with error -32601: Unknown method: nope`)
    }).pipe(Effect.scoped))

  it.live("a reply in another framing is one line naming the framing expected and the --framing to try, exit 4", () =>
    Effect.gen(function*() {
      const server = yield* jsonRpcServer({ port: 0, verbose: false, jsonRpc2: true }).pipe(
        Effect.provideService(Output.Output, Output.silent)
      )
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
      const atLimit = yield* runCli([
        "call",
        "--port",
        port,
        "--format",
        "json",
        `{"id":2,"method":"echo","params":${nested(127)}}`
      ])
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
  it.live(
    "an out-of-range or non-integer port, count or size is one line naming the flag, the value and the range, exit 2",
    () =>
      expectUsageErrors([
        [["serve", "echo", "--port", "99999"], "--port", "99999", "an integer from 0 to 65535"],
        [["serve", "echo", "--port", "-1"], "--port", "-1", "an integer from 0 to 65535"],
        [["call", "--port", "abc", "x"], "--port", "abc", "an integer from 1 to 65535"],
        [["call", "--port", "0", "x"], "--port", "0", "an integer from 1 to 65535"],
        [["serve", "echo", "--port=7.5"], "--port", "7.5", "an integer from 0 to 65535"],
        [["serve", "echo", "--max-connections", "0"], "--max-connections", "0", "an integer from 1 to"],
        [["serve", "echo", "--backlog", "70000"], "--backlog", "70000", "an integer from 1 to 65535"],
        [["serve", "echo", "--max-frame-bytes", "0"], "--max-frame-bytes", "0", "a size from 1 byte"],
        [["serve", "echo", "--max-outbound-bytes", "3GiB"], "--max-outbound-bytes", "3GiB", "a size from 1 byte"]
      ]),
    SPAWNS_MANY
  )

  it.live(
    "a negative, zero or unparseable duration is one line naming the flag, the value and the form, exit 2",
    () =>
      expectUsageErrors([
        [["call", "--port", "1", "--timeout", "-5", "x"], "--timeout", "-5", "a positive duration"],
        [["call", "--port", "1", "--timeout", "0", "x"], "--timeout", "\"0\"", "a positive duration"],
        [["send", "--port", "1", "--timeout", "soon", "x"], "--timeout", "soon", "a positive duration"],
        [["serve", "echo", "--idle-timeout", "10 years"], "--idle-timeout", "10 years", "a positive duration"],
        [["serve", "echo", "--frame-read-timeout", "30d"], "--frame-read-timeout", "30d", "a positive duration"],
        [["serve", "echo", "--linger", "-1s"], "--linger", "-1s", "a duration of 0 or more"],
        [["scenario", "scalability", "--budget", "0"], "--budget", "\"0\"", "a positive duration"]
      ]),
    SPAWNS_MANY
  )

  it.live(
    "an unknown choice (command, server, scenario, framing, format) is one line listing what is allowed, exit 2",
    () =>
      expectUsageErrors([
        [["serv", "echo"], "serv", "scenario, serve, call, send"],
        [["serve", "telnet"], "telnet", "echo, chat, json-rpc"],
        [["scenario", "nope"], "nope", "echo, stream-api", "all"],
        [["serve", "echo", "--framing", "crlf"], "--framing", "crlf", "lines, length-prefixed, varint, content-length"],
        [["call", "--port", "1", "--format", "xml", "x"], "--format", "xml", "text, json, jsonrpc"]
      ]),
    SPAWNS_MANY
  )

  it.live(
    "an unknown flag, a missing or repeated value, a value for a switch and a missing --port or server are one line each, exit 2",
    () =>
      expectUsageErrors([
        [["serve", "echo", "--prot", "1"], "--prot", "--port"],
        [["serve", "echo", "--port"], "--port", "needs a value", "0 to 65535"],
        [["serve", "echo", "--port", "1", "--port", "2"], "--port", "more than once"],
        [["serve", "echo", "--quiet=yes"], "--quiet", "takes no value"],
        [["call", "x"], "--port"],
        [["serve"], "echo, chat, json-rpc"],
        [["serve", "echo", "chat"], "chat"]
      ]),
    SPAWNS_MANY
  )

  it.live(
    "a flag that does not apply, or limits the framing cannot honour, is one line, exit 2",
    () =>
      expectUsageErrors([
        [["scenario", "echo", "--chart", "x.svg"], "--chart", "scalability"],
        [["scenario", "echo", "--budget", "10s"], "--budget", "scalability"],
        [["serve", "echo", "--max-header-bytes", "1KiB"], "--max-header-bytes", "--framing content-length"],
        [
          ["serve", "echo", "--framing", "content-length", "--max-header-bytes", "10"],
          "--max-header-bytes",
          "--max-frame-bytes"
        ]
      ]),
    SPAWNS_MANY
  )

  it.live(
    "--help of every command, piped, with or without NO_COLOR: no ANSI codes, no line over 100 columns, every flag with its default",
    () =>
      Effect.gen(function*() {
        const commands = [[], ["serve"], ["call"], ["send"], ["scenario"]]
        const outputs: Record<string, string> = {}
        for (const env of [{ NO_COLOR: "1" }, { NO_COLOR: undefined }]) {
          const helps = yield* Effect.forEach(commands, (c) => runCli([...c, "--help"], env), { concurrency: 4 })
          for (const [i, help] of helps.entries()) {
            const what = `effect-wire ${commands[i]!.join(" ")} --help`
            expect(help.code, what).toBe(0)
            expect(help.stderr, what).toBe("")
            expect(help.stdout, what).not.toContain("\x1b[")
            const longest = Math.max(...help.stdout.split("\n").map((l) => l.length))
            expect(longest, what).toBeLessThanOrEqual(100)
            outputs[commands[i]!.join(" ")] = help.stdout
          }
        }
        const serveHelp = outputs["serve"]!
        const conn = Connection.config({})
        // The connection limits' defaults are the library's own (Connection.config), the server's as documented.
        const defaults: Record<string, string> = {
          "--host HOST": "127.0.0.1",
          "--port PORT": "7070",
          "--max-connections N": "1024",
          "--backlog N": "2048",
          "--idle-timeout DURATION": `${conn.idleMillis / 60_000}m`,
          "--frame-read-timeout DURATION": `${conn.frameReadMillis / 1000}s`,
          "--write-stall-timeout DURATION": `${conn.writeStallMillis / 1000}s`,
          "--half-closed-timeout DURATION": `${conn.halfClosedMillis / 1000}s`,
          "--linger DURATION": `${conn.lingerMillis / 1000}s`,
          "--max-outbound-bytes SIZE": `${conn.maxOutboundBytes / 1_048_576}MiB`,
          "--read-high-water-mark SIZE": `${conn.readHighWaterMark / 1024}KiB`,
          "--write-high-water-mark SIZE": `${conn.writeHighWaterMark / 1024}KiB`,
          "--max-frame-bytes SIZE": "64KiB",
          "--max-header-bytes SIZE": "8KiB",
          "--shutdown-deadline DURATION": "30s",
          "--flush-timeout DURATION": "1s"
        }
        // Each flag's entry: from its name to the next flag; its default is in it.
        const entries = serveHelp.split(/\n(?= {2}--)/)
        for (const [flag, value] of Object.entries(defaults)) {
          const entry = entries.find((e) =>
            e.trimStart().startsWith(flag + " ") || e.trimStart().startsWith(flag + "\n")
          )
          expect(entry, flag).toBeDefined()
          expect(entry!.replace(/\s+/g, " "), flag).toContain(`default: ${value}`)
        }
        const callHelp = outputs["call"]!.replace(/\s+/g, " ")
        expect(callHelp).toContain("--timeout DURATION")
        expect(callHelp).toContain("default: 10s")
        expect(callHelp).toContain("default: text")
        const rootHelp = outputs[""]!.replace(/\s+/g, " ")
        expect(rootHelp).toContain("EXIT CODES")
        for (
          const code of ["0 success", "1 a scenario failed", "2 bad usage", "3 cannot connect", "4 the peer misbehaved"]
        ) {
          expect(rootHelp).toContain(code)
        }
      }),
    SPAWNS_MANY
  )

  it.live("on a terminal, help is in colour unless NO_COLOR is set", () =>
    Effect.gen(function*() {
      const plain = yield* runCliOnTty(["serve", "--help"], { NO_COLOR: "1" })
      expect(plain.stdout).toContain("--max-connections")
      expect(plain.stdout).not.toContain("\x1b[")
      const coloured = yield* runCliOnTty(["serve", "--help"], {})
      expect(coloured.stdout).toContain("--max-connections")
      expect(coloured.stdout).toContain("\x1b[")
    }))

  it.live("serve --max-connections 1: a second client is closed at once and counted as rejected while the first is served", () =>
    Effect.gen(function*() {
      const s = yield* serve(["echo", "--quiet", "--max-connections", "1"])
      const first = yield* connectUntilClose(s.port)
      yield* exchangeOn(first.socket, "a\n", "ECHO: a\n")
      // The first client is active: the second is refused (closed by the server, nothing sent).
      const second = yield* connectUntilClose(s.port)
      expect(yield* Effect.promise(() => second.closed)).toBe("")
      yield* exchangeOn(first.socket, "b\n", "ECHO: b\n")
      first.socket.end()
      yield* Effect.promise(() => first.closed)
      const done = yield* stop(s)
      expect(done.code).toBe(0)
      expect(done.stdout).toMatch(
        /stopped: 1 connection\(s\) accepted, 0 active, 2 request\(s\), 0 error\(s\), 1 rejected/
      )
    }).pipe(Effect.scoped))

  it.live("serve --idle-timeout 300ms closes a client that stops sending; call --timeout takes units", () =>
    Effect.gen(function*() {
      const s = yield* serve(["echo", "--idle-timeout", "300ms"])
      const client = yield* connectUntilClose(s.port)
      yield* exchangeOn(client.socket, "hi\n", "ECHO: hi\n")
      // Nothing more is sent: the server closes the connection on its own (the default is 5 minutes).
      expect(yield* Effect.promise(() => client.closed)).toBe("ECHO: hi\n")
      const call = yield* runCli(["call", "--port", String(s.port), "--timeout", "2.5s", "again"])
      expect(call).toMatchObject({ code: 0, stdout: "ECHO: again\n" })
      const done = yield* stop(s)
      expect(done.code).toBe(0)
      expect(done.stdout).toMatch(/stopped: 2 connection\(s\) accepted, 0 active/)
    }).pipe(Effect.scoped))
})

describe("effect-wire CLI over TLS and Unix domain sockets", { timeout: 90_000 }, () => {
  let certs: Certs
  beforeAll(() => {
    certs = makeCerts()
  })
  afterAll(() => removeCerts(certs))
  const file = (name: string) => Path.join(certs.dir, name)
  const fingerprintOf = (name: string) => new X509Certificate(Fs.readFileSync(file(name))).fingerprint256

  it.live("serve --tls-cert/--tls-key prints the certificate's SHA-256 fingerprint; call and send --tls --tls-ca get their answers", () =>
    Effect.gen(function*() {
      const s = yield* serve(["echo", "--tls-cert", file("server.crt"), "--tls-key", file("server.key"), "--quiet"])
      const startup = s.output().split("\n")[0]!
      expect(startup).toContain("TLS")
      expect(startup).toContain(`SHA-256 ${fingerprintOf("server.crt")}`)
      const port = String(s.port)
      const call = yield* runCli(["call", "--tls", "--tls-ca", file("ca.crt"), "--port", port, "over tls", "again"])
      expect(call).toMatchObject({ code: 0, stdout: "ECHO: over tls\nECHO: again\n", stderr: "" })
      // The certificate names localhost too: --servername checks it against that name.
      const named = yield* runCli([
        "send",
        "--tls",
        "--tls-ca",
        file("ca.crt"),
        "--servername",
        "localhost",
        "--port",
        port,
        "a",
        "b"
      ])
      expect(named).toMatchObject({ code: 0, stdout: "ECHO: a\nECHO: b\n", stderr: "" })
      // Without --tls the server waits for a handshake that never comes: the timeout's line says what is missing.
      const plain = yield* runCli(["call", "--port", port, "--timeout", "1s", "x"])
      expect(plain.code).toBe(4)
      expect(plain.stderr.trimEnd().split("\n")).toHaveLength(1)
      expect(plain.stderr).toContain("over plain TCP? a TLS server needs --tls")
      const done = yield* stop(s)
      expect(done.code).toBe(0)
      expect(done.stdout).toMatch(/stopped: 2 connection\(s\) accepted, 0 active, 4 request\(s\), 0 error\(s\)/)
    }).pipe(Effect.scoped))

  it.live("call --tls against a plain TCP server: one line with the TLS error and its hint, exit 3", () =>
    Effect.gen(function*() {
      const server = yield* Server.make({ port: 0 }, (conn) => conn.write("hello, this is not TLS\n"))
      const port = server.address.port
      const done = yield* runCli(["call", "--tls", "--port", String(port), "x"])
      expect(done.code).toBe(3)
      expect(done.stdout).toBe("")
      expect(done.stderr.trimEnd().split("\n")).toHaveLength(1)
      expect(done.stderr).toContain(`TLS handshake with 127.0.0.1:${port} failed`)
      expect(done.stderr).toContain("is the server speaking plain TCP?")
    }).pipe(Effect.scoped))

  it.live("call --tls to a self-signed server: without --tls-ca exit 3 naming DEPTH_ZERO_SELF_SIGNED_CERT and --tls-ca; --insecure and --tls-ca CERT succeed", () =>
    Effect.gen(function*() {
      const s = yield* serve(["echo", "--tls-cert", file("self.crt"), "--tls-key", file("self.key"), "--quiet"])
      const port = String(s.port)
      const refused = yield* runCli(["call", "--tls", "--port", port, "x"])
      expect(refused.code).toBe(3)
      expect(refused.stdout).toBe("")
      expect(refused.stderr.trimEnd().split("\n")).toHaveLength(1)
      expect(refused.stderr).toContain("DEPTH_ZERO_SELF_SIGNED_CERT")
      expect(refused.stderr).toContain("the certificate is self-signed: trust it with `ca` (--tls-ca)")
      expect(refused.stderr).toContain("--insecure")
      const insecure = yield* runCli(["call", "--tls", "--insecure", "--port", port, "x"])
      expect(insecure).toMatchObject({ code: 0, stdout: "ECHO: x\n" })
      const trusted = yield* runCli(["call", "--tls", "--tls-ca", file("self.crt"), "--port", port, "y"])
      expect(trusted).toMatchObject({ code: 0, stdout: "ECHO: y\n", stderr: "" })
    }).pipe(Effect.scoped))

  it.live("serve --tls-ca --tls-require-client-cert: call with --tls-cert/--tls-key is answered, without a certificate exit 3 with the hint", () =>
    Effect.gen(function*() {
      const s = yield* serve([
        "echo",
        "--quiet",
        "--tls-cert",
        file("server.crt"),
        "--tls-key",
        file("server.key"),
        "--tls-ca",
        file("ca.crt"),
        "--tls-require-client-cert"
      ])
      const port = String(s.port)
      const withCert = yield* runCli([
        "call",
        "--tls",
        "--tls-ca",
        file("ca.crt"),
        "--tls-cert",
        file("client.crt"),
        "--tls-key",
        file("client.key"),
        "--port",
        port,
        "me"
      ])
      expect(withCert).toMatchObject({ code: 0, stdout: "ECHO: me\n", stderr: "" })
      const without = yield* runCli(["call", "--tls", "--tls-ca", file("ca.crt"), "--port", port, "anonymous"])
      expect(without.code).toBe(3)
      expect(without.stdout).toBe("")
      expect(without.stderr.trimEnd().split("\n")).toHaveLength(1)
      expect(without.stderr).toContain("the server wants a client certificate (--tls-cert / --tls-key)")
      const done = yield* stop(s)
      expect(done.code).toBe(0)
      expect(done.stdout).toMatch(/stopped: 1 connection\(s\) accepted, .* 1 failed TLS handshake\(s\)/)
    }).pipe(Effect.scoped))

  it.live("serve json-rpc over TLS: the Python client with ssl.create_default_context(cafile=…) gets every answer", () =>
    Effect.gen(function*() {
      const s = yield* serve(["json-rpc", "--quiet", "--tls-cert", file("server.crt"), "--tls-key", file("server.key")])
      const py = yield* pipeThrough("python3", [
        "test/scenarios/python/json_rpc_client.py",
        String(s.port),
        "--cafile",
        file("ca.crt")
      ], "")
      expect(py.stderr).toBe("")
      expect(py.stdout.trimEnd().split("\n").map((l) => JSON.parse(l))[0]).toEqual({ id: 1, result: 42 })
      expect(py.stdout.trimEnd().split("\n")).toHaveLength(5)
      expect((yield* stop(s)).code).toBe(0)
    }).pipe(Effect.scoped))

  it.live("serve --path --socket-mode 600 listens on a Unix domain socket with that mode; call and send --path talk to it; a missing socket is exit 3", () =>
    Effect.gen(function*() {
      const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "effect-wire-cli-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true })))
      const socket = Path.join(dir, "echo.sock")
      const s = yield* serve(["echo", "--quiet", "--path", socket, "--socket-mode", "600"], "as given")
      expect(s.output()).toContain(`listening on ${socket} (`)
      expect(Fs.statSync(socket).mode & 0o777).toBe(0o600)
      const call = yield* runCli(["call", "--path", socket, "over unix"])
      expect(call).toMatchObject({ code: 0, stdout: "ECHO: over unix\n", stderr: "" })
      const send = yield* runCli(["send", "--path", socket, "a", "b"])
      expect(send).toMatchObject({ code: 0, stdout: "ECHO: a\nECHO: b\n", stderr: "" })
      expect((yield* stop(s)).code).toBe(0)
      const missing = yield* runCli(["call", "--path", Path.join(dir, "nobody.sock"), "x"])
      expect(missing.code).toBe(3)
      expect(missing.stderr.trimEnd().split("\n")).toHaveLength(1)
      expect(missing.stderr).toContain(Path.join(dir, "nobody.sock"))
    }).pipe(Effect.scoped))

  it.live("scenario echo --tls runs over TLS with a certificate made for the run, and prints its fingerprint once", () =>
    Effect.gen(function*() {
      const done = yield* runCli(["scenario", "echo", "--tls"])
      expect(done.stderr).toBe("")
      expect(done.code).toBe(0)
      expect(done.stdout).toContain("✔ echo: 3/3 echoes correct")
      expect(done.stdout.match(/SHA-256 fingerprint [0-9A-F]{2}(:[0-9A-F]{2}){31}/g)).toHaveLength(1)
      expect(done.stdout).toContain("TLSv1.3")
    }))

  it.live("scenario --tls without openssl on PATH is one line, exit 2", () =>
    Effect.gen(function*() {
      const done = yield* runCli(["scenario", "echo", "--tls"], { NO_COLOR: "1", PATH: "/nonexistent" })
      expectUsageError(done, "--tls", "openssl")
    }))

  it.live(
    "TLS and socket flags that are missing a partner, do not apply or name unreadable files are one line each, exit 2",
    () =>
      expectUsageErrors([
        [["serve", "echo", "--tls-cert", file("server.crt")], "--tls-cert", "--tls-key"],
        [["serve", "echo", "--tls-key", file("server.key")], "--tls-key", "--tls-cert"],
        [["serve", "echo", "--tls-ca", file("ca.crt")], "--tls-ca", "--tls-cert"],
        [
          [
            "serve",
            "echo",
            "--tls-cert",
            file("server.crt"),
            "--tls-key",
            file("server.key"),
            "--tls-require-client-cert"
          ],
          "--tls-require-client-cert",
          "--tls-ca"
        ],
        [
          ["serve", "echo", "--tls-cert", "/nonexistent/server.crt", "--tls-key", file("server.key")],
          "--tls-cert",
          "/nonexistent/server.crt"
        ],
        [
          ["serve", "echo", "--tls-cert", file("server.crt"), "--tls-key", "/nonexistent/server.key"],
          "--tls-key",
          "/nonexistent/server.key"
        ],
        [
          ["serve", "echo", "--tls-cert", "package.json", "--tls-key", file("server.key")],
          "--tls-cert",
          "package.json",
          "certificate"
        ],
        [
          ["serve", "echo", "--tls-cert", file("server.crt"), "--tls-key", file("client.key")],
          "--tls-key",
          "does not match",
          "--tls-cert"
        ],
        [["serve", "echo", "--path", "/tmp/x.sock", "--port", "1"], "--path", "--port"],
        [["serve", "echo", "--path", "/tmp/x.sock", "--host", "0.0.0.0"], "--path", "--host"],
        [["serve", "echo", "--socket-mode", "660"], "--socket-mode", "--path"],
        [["serve", "echo", "--path", "/tmp/x.sock", "--socket-mode", "999"], "--socket-mode", "999", "octal"],
        [["call", "--port", "1", "--tls-ca", file("ca.crt"), "x"], "--tls-ca", "--tls"],
        [["send", "--port", "1", "--insecure", "x"], "--insecure", "--tls"],
        [["call", "--port", "1", "--tls", "--tls-cert", file("client.crt"), "x"], "--tls-cert", "--tls-key"],
        [["call", "--port", "1", "--tls", "--tls-ca", "/nonexistent/ca.crt", "x"], "--tls-ca", "/nonexistent/ca.crt"],
        [["call", "--port", "1", "--path", "/tmp/x.sock", "x"], "--path", "--port"],
        [["send", "x"], "--port", "--path"],
        [["scenario", "echo", "--tls=yes"], "--tls", "takes no value"]
      ]),
    SPAWNS_MANY
  )
})
