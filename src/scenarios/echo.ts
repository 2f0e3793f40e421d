/**
 * Scenario `echo`: a line-based echo server and a client that sends three messages and reads
 * each answer (`ECHO: <message>`) before sending the next.
 *
 * @since 0.1.0
 */
import { Effect, type Scope } from "effect"
import * as Client from "../client/Client.js"
import type { Connection } from "../connection/Connection.js"
import type { Codec } from "../protocol/Codec.js"
import * as Framing from "../protocol/Framing.js"
import type { FramingError } from "../protocol/FramingError.js"
import * as Message from "../protocol/Message.js"
import * as Server from "../server/Server.js"
import type * as ServerError from "../server/ServerError.js"
import { reportFirstFrameError } from "./internal/framing.js"
import { framedPeer, hostPort } from "./internal/peer.js"
import { Wire } from "./internal/wire.js"
import * as Output from "./Output.js"
import * as Scenario from "./Scenario.js"

/** Options of `echoServer`. */
export interface EchoServerOptions extends Server.ServerOptions {
  /** The framing of requests and replies. Default: lines. */
  readonly framing?: Codec<Uint8Array, FramingError>
  /** Print connects, requests and disconnects. Default true. */
  readonly verbose?: boolean
}

/** A text echo server: every frame comes back prefixed with `ECHO: `. */
export const echoServer = (
  options: EchoServerOptions = {}
): Effect.Effect<Server.Server, ServerError.ListenError, Scope.Scope | Output.Output> => {
  const verbose = options.verbose ?? true
  const say = (text: string) => (verbose ? Output.line(text, "dim") : Effect.void)
  const framing = options.framing ?? Framing.lines()
  const respond = Server.respond(
    Message.text(framing),
    (message: string) => Effect.as(say(`  [server] received ${JSON.stringify(message)}`), `ECHO: ${message}`)
  )
  const handler = (conn: Connection) =>
    say(`  [server] ${hostPort(conn.remoteAddress)} connected`).pipe(
      Effect.zipRight(respond(conn)),
      Effect.tapError((e) => reportFirstFrameError(hostPort(conn.remoteAddress), framing, e)),
      Effect.ensuring(say(`  [server] ${hostPort(conn.remoteAddress)} disconnected`))
    )
  return Server.make(options, handler)
}

/** What the echo scenario returns. */
export interface EchoResult {
  readonly port: number
  readonly sent: ReadonlyArray<string>
  readonly received: ReadonlyArray<string>
  readonly allCorrect: boolean
}

export const MESSAGES = ["Hello async!", "Effect networking", "Goodbye"] as const

/** Runs the echo scenario. */
export const run = (messages: ReadonlyArray<string> = MESSAGES) =>
  Effect.scoped(
    Effect.gen(function*() {
      yield* Output.heading("echo: a line-based echo server and client")
      const wire = yield* Wire
      const server = yield* echoServer({ ...wire.server, port: 0 })
      yield* Output.line(`server listening on ${hostPort(server.address)}`)
      const received: Array<string> = []
      yield* Effect.scoped(
        Effect.gen(function*() {
          const conn = yield* Client.connect({ ...wire.client, port: server.address.port })
          const peer = yield* framedPeer(conn, Message.text(Framing.lines()))
          const session = conn.tls === undefined ? "" : ` over ${conn.tls.version} (${conn.tls.cipher})`
          yield* Output.line(`  [client] connected from ${hostPort(conn.localAddress)}${session}`, "dim")
          for (const message of messages) {
            yield* peer.send(message)
            const reply = yield* peer.next
            received.push(reply)
            yield* Output.line(`  [client] sent ${JSON.stringify(message)}  →  got ${JSON.stringify(reply)}`)
          }
        })
      )
      yield* server.shutdown
      const allCorrect = received.length === messages.length && messages.every((m, i) => received[i] === `ECHO: ${m}`)
      yield* Output.line(
        allCorrect ? `all ${messages.length} replies correct` : "some replies were wrong",
        allCorrect ? "ok" : "error"
      )
      return { port: server.address.port, sent: messages, received, allCorrect } satisfies EchoResult
    })
  )

export const scenario = Scenario.make({
  name: "echo",
  title: "Echo server and client",
  description: "a line-based echo server; three messages come back as `ECHO: <message>`",
  run: () => run(),
  verdict: (r: EchoResult) => ({
    ok: r.allCorrect,
    summary: `${r.received.filter((x, i) => x === `ECHO: ${r.sent[i]}`).length}/${r.sent.length} echoes correct`
  })
})
