/**
 * (a) The line echo protocol on effect-wire: `Server.make` + `Server.respond(Framing.lines(), …)`,
 * run under Effect in its own process. Controlled over IPC by `bench/server.ts`.
 */
import { Effect, Exit, Fiber, Schema } from "effect"
import { Buffer } from "node:buffer"
import * as Fs from "node:fs"
import * as Net from "node:net"
import * as Path from "node:path"
import * as Url from "node:url"
import type * as TransportModule from "../../src/connection/Transport.js"
import type * as IndexModule from "../../src/index.js"
import type * as ServerModule from "../../src/server/Server.js"
import { counters, serveControl } from "./control.js"
import { LineEcho } from "./lineEcho.js"

// `--profile` runs the tsc-compiled sources (BENCH_EW_DIST), so profiles show real names and lines.
const dist = process.env["BENCH_EW_DIST"]
const load = <T>(rel: string, fallback: () => Promise<T>): Promise<T> =>
  dist === undefined ? fallback() : import(Url.pathToFileURL(Path.join(dist, rel)).href) as Promise<T>
const Server = await load<typeof ServerModule>(
  "src/server/Server.js",
  () => import("../../src/server/Server.js")
)
const { Framing, Message } = await load<typeof IndexModule>(
  "src/index.js",
  () => import("../../src/index.js")
)

const PREFIX = Buffer.from("ECHO: ")

const textReply = (line: string): string => {
  counters.frames++
  return `ECHO: ${line}`
}

/** The `json` variant's message (the load generator's lines are not JSON: see `bench/server.ts`). */
const Echo = Schema.Struct({ line: Schema.String })

const reply = (line: Uint8Array): Uint8Array => {
  counters.frames++
  const out = Buffer.allocUnsafe(PREFIX.length + line.length)
  PREFIX.copy(out, 0)
  out.set(line, PREFIX.length)
  return out
}

// The benchmarked handler is `respond`; the other variants (BENCH_EW_HANDLER) help split the
// per-connection cost between the server, the connection and the framed stream.
const variant = process.env["BENCH_EW_HANDLER"] ?? "respond"
const echo: ServerModule.Handler<unknown, never> = variant === "readline"
  ? (conn) =>
    Effect.gen(function*() {
      for (;;) {
        const line = yield* conn.readLine()
        if (line.length === 0) return
        yield* conn.write(reply(line.subarray(0, line.length - 1)))
        yield* conn.write("\n")
      }
    })
  : variant === "loop"
  ? (conn) => {
    // `respond` without Stream: the lines decoder driven by a plain read loop, one write per read.
    const decoder = Framing.lines().decoder()
    const encoder = Framing.lines().encoder()
    const frames: Array<Uint8Array> = []
    const parts: Array<Uint8Array> = []
    const loop: Effect.Effect<void, unknown> = Effect.flatMap(conn.read(), (bytes): Effect.Effect<void, unknown> => {
      if (bytes.length === 0) return Effect.void // EOF
      const error = decoder.push(bytes, frames)
      if (error !== undefined) return Effect.fail(error)
      for (const f of frames) encoder.push(reply(f), parts)
      frames.length = 0
      if (parts.length === 0) return loop
      const out = parts.length === 1 ? parts[0]! : Buffer.concat(parts)
      parts.length = 0
      return Effect.zipRight(conn.write(out), loop)
    })
    return loop
  }
  : variant === "inline-hw"
  ? (connection) =>
    Effect.suspend(() => {
      const conn = connection as TransportModule.Transport
      // The hand-written server's data handler as an inline reader: what the driver alone costs.
      const echo = new LineEcho()
      let tooLong = false
      const handle = (chunk: Uint8Array): boolean => {
        const out = echo.push(chunk as Buffer)
        if (out === "too-long") {
          tooLong = true
          return false
        }
        if (out !== undefined) conn.writeNow(out)
        return !conn.writeBlocked()
      }
      conn.setInlineReader({ push: handle, partial: () => echo.carry !== undefined, progress: () => echo.lines })
      const loop: Effect.Effect<void, unknown> = Effect.flatMap(
        conn.pull(() => echo.carry !== undefined, () => echo.lines),
        (chunks): Effect.Effect<void, unknown> => {
          if (chunks === undefined) return Effect.void
          for (const c of chunks) handle(c)
          if (tooLong) return Effect.fail("line too long")
          return conn.writeBlocked() ? Effect.zipRight(conn.flush, loop) : loop
        }
      )
      return Effect.ensuring(loop, Effect.sync(() => conn.setInlineReader(undefined)))
    })
  : variant === "raw"
  ? (conn) =>
    Effect.gen(function*() {
      // Not line-exact: answers one reply per read that holds a \n (enough for the storm and hold runs).
      for (;;) {
        const bytes = yield* conn.read()
        if (bytes.length === 0) return
        yield* conn.write(reply(new Uint8Array(0)))
        yield* conn.write("\n")
      }
    })
  : variant === "text"
  ? Server.respond(Message.text(Framing.lines()), (line: string) => Effect.succeed(textReply(line)))
  : variant === "gen"
  ? Server.respond(Message.text(Framing.lines()), (line: string) =>
    Effect.gen(function*() {
      return textReply(line)
    }))
  : variant === "map"
  ? Server.respond(Message.text(Framing.lines()), (line: string) => Effect.map(Effect.void, () => textReply(line)))
  : variant === "json"
  ? Server.respond(Message.json(Framing.lines(), Echo), ({ line }) => Effect.succeed({ line: textReply(line) }))
  : Server.respond(Framing.lines(), (line: Uint8Array) => Effect.succeed(reply(line)))

// Diagnostic (BENCH_TRACE_FILE set): when the server accepted each connection ('connection'),
// written as JSON lines to that file when the server stops. `cli-shape`: the CLI's `serve echo`
// handler shape (`Server.respond(Message.text(…))` called from a plain handler, so not on
// respond's own fast path), also tracing when each connection's handler started and when its
// first message was handled.
const trace: Array<{ accept: number; start: number; first: number }> = []
const traceFile = process.env["BENCH_TRACE_FILE"]
const acceptedAt = new Map<object, number>()
if (traceFile !== undefined) {
  const proto = Net.Server.prototype as unknown as {
    emit: (this: unknown, event: string | symbol, ...args: Array<unknown>) => boolean
  }
  const emit = proto.emit
  proto.emit = function(this: unknown, event: string | symbol, ...args: Array<unknown>) {
    if (event === "connection") {
      const at = performance.now()
      acceptedAt.set(args[0] as object, at)
      if (variant !== "cli-shape") trace.push({ accept: at, start: NaN, first: NaN })
    }
    return emit.call(this, event, ...args)
  }
}
const handler: ServerModule.Handler<unknown, never> = variant !== "cli-shape" ? echo : (conn) =>
  Effect.suspend(() => {
    const socket = (conn as unknown as { readonly socket?: object }).socket
    const rec = {
      accept: socket === undefined ? NaN : acceptedAt.get(socket) ?? NaN,
      start: performance.now(),
      first: NaN
    }
    trace.push(rec)
    return Server.respond(Message.text(Framing.lines()), (line: string) => {
      if (Number.isNaN(rec.first)) rec.first = performance.now()
      return Effect.succeed(textReply(line))
    })(conn)
  })
const dumpTrace = () => {
  if (traceFile !== undefined && trace.length > 0) {
    Fs.writeFileSync(
      traceFile,
      trace.map((r) => JSON.stringify(r)).join("\n") + "\n"
    )
  }
}

const fiber = Effect.runFork(
  Effect.scoped(
    Effect.gen(function*() {
      const server = yield* Server.make({ port: 0, maxConnections: 20_000, backlog: 4096 }, handler)
      serveControl({
        name: "effect-wire",
        port: server.address.port,
        active: () => Effect.runSync(server.stats).active,
        stop: () => {
          dumpTrace()
          return Effect.runPromise(Fiber.interrupt(fiber)).then(() => undefined)
        }
      })
      return yield* Effect.never
    })
  )
)

fiber.addObserver((exit) => {
  if (Exit.isFailure(exit) && !Exit.isInterrupted(exit)) {
    console.error("effect-wire server failed:", exit.cause)
    process.exit(1)
  }
})
