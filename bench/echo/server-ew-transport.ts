/**
 * effect-wire's line echo (`Server.make` + `Server.respond(Framing.lines(), …)`, the handler of
 * `server-effect-wire.ts`) over TLS (`tls: { key, cert }`) or a Unix domain socket (`path`),
 * from `transportEnv.ts`. `BENCH_EW_DIST`: run the tsc build of `src/` (profiles with names).
 */
import { Effect, Exit, Fiber } from "effect"
import { Buffer } from "node:buffer"
import * as Path from "node:path"
import * as Url from "node:url"
import type * as IndexModule from "../../src/index.js"
import type * as ServerModule from "../../src/server/Server.js"
import { counters, serveControl } from "./control.js"
import { servedTransport } from "./transportEnv.js"

const dist = process.env["BENCH_EW_DIST"]
const load = <T>(rel: string, fallback: () => Promise<T>): Promise<T> =>
  dist === undefined ? fallback() : import(Url.pathToFileURL(Path.join(dist, rel)).href) as Promise<T>
const Server = await load<typeof ServerModule>("src/server/Server.js", () => import("../../src/server/Server.js"))
const { Framing } = await load<typeof IndexModule>("src/index.js", () => import("../../src/index.js"))

const transport = servedTransport()
const PREFIX = Buffer.from("ECHO: ")

const reply = (line: Uint8Array): Uint8Array => {
  counters.frames++
  const out = Buffer.allocUnsafe(PREFIX.length + line.length)
  PREFIX.copy(out, 0)
  out.set(line, PREFIX.length)
  return out
}

const options: ServerModule.ServerOptions = transport.kind === "tls"
  ? { port: 0, tls: { key: transport.key, cert: transport.cert } }
  : transport.kind === "unix"
  ? { path: transport.path }
  : { port: 0 }

const fiber = Effect.runFork(
  Effect.scoped(
    Effect.gen(function*() {
      const server = yield* Server.make(
        { ...options, maxConnections: 20_000, backlog: 4096 },
        Server.respond(Framing.lines(), (line: Uint8Array) => Effect.succeed(reply(line)))
      )
      serveControl({
        name: `effect-wire ${transport.kind}`,
        port: server.address.port,
        active: () => Effect.runSync(server.stats).active,
        stop: () => Effect.runPromise(Fiber.interrupt(fiber)).then(() => undefined)
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
