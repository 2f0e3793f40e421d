/**
 * The `effect-wire` command line (`@effect/cli`): run the chapter's scenarios, serve the echo,
 * chat and JSON servers to real peers, and talk to any framed server.
 *
 * Exit codes: 0 success · 1 a scenario failed (or an unexpected error) · 2 bad usage ·
 * 3 cannot connect or listen · 4 the peer misbehaved (closed early, bad frame, no answer in time)
 * or `call` got an error reply (a JSON reply with an `error` object, e.g. JSON-RPC's).
 *
 * Without `--framing`, text is framed as lines (`serve echo`, `serve chat`, `--format text`) and
 * JSON with the chapter's 4-byte length prefix (`serve json-rpc`, `--format json|jsonrpc`), so
 * `serve X` and `call --format Y` agree out of the box. A framing error in the first frame read
 * (a peer speaking another framing) is one line naming the framing expected and the `--framing`
 * the bytes suggest.
 *
 * @since 0.1.0
 */
import { Args, Command, Options } from "@effect/cli"
import { Cause, Data, Duration, Effect, Option } from "effect"
import * as Client from "../client/Client.js"
import type { Codec } from "../protocol/Codec.js"
import * as Message from "../protocol/Message.js"
import * as All from "./all.js"
import { chatServer } from "./chat.js"
import { echoServer } from "./echo.js"
import {
  defaultFraming,
  firstFrameError,
  FRAMING_HELP,
  framingCodec,
  framingMismatch,
  type FramingName,
  FRAMINGS
} from "./internal/framing.js"
import { type FramedPeer, framedPeer, hostPort } from "./internal/peer.js"
import { jsonRpcServer } from "./json-rpc.js"
import * as Output from "./Output.js"
import { DEFAULT_BUDGET_SECONDS } from "./scalability.js"

/**
 * An expected failure: one line for the user and the exit code.
 *
 * @since 0.1.0
 */
export class CliFailure extends Data.TaggedError("CliFailure")<{ readonly message: string; readonly code: number }> {}

/**
 * The exit codes (see the module doc).
 *
 * @since 0.1.0
 */
export const EXIT = { ok: 0, failed: 1, usage: 2, connect: 3, protocol: 4 } as const

// ---- scenario -------------------------------------------------------------------------------

const scenarioCommand = Command.make(
  "scenario",
  {
    name: Args.choice(All.NAMES.map((n) => [n, n] as [string, string]), { name: "name" }).pipe(
      Args.withDescription(`one of: ${All.NAMES.join(", ")}`)
    ),
    chart: Options.text("chart").pipe(
      Options.withDescription("scalability: write an SVG chart of req/s and memory against N to this file"),
      Options.optional
    ),
    budget: Options.integer("budget").pipe(
      Options.withDescription(
        `scalability: seconds the rounds may take in all (default ${DEFAULT_BUDGET_SECONDS}); a larger N the measured rate says would not fit is skipped, with a note`
      ),
      Options.optional
    )
  },
  ({ budget, chart, name }) =>
    Effect.gen(function*() {
      const options = {
        ...(Option.isSome(chart) ? { chart: chart.value } : {}),
        ...(Option.isSome(budget) ? { budgetSeconds: budget.value } : {})
      }
      const summaries = name === "all"
        ? yield* All.run(options)
        : [yield* All.runOne(All.SCENARIOS.find((s) => s.name === name)!, options)]
      if (name !== "all") {
        const s = summaries[0]!
        yield* Output.line(`${s.ok ? "✔" : "✘"} ${s.name}: ${s.summary}`, s.ok ? "ok" : "error")
      }
      const failed = summaries.filter((s) => !s.ok).length
      if (failed > 0) return yield* new CliFailure({ message: `${failed} scenario(s) failed`, code: EXIT.failed })
    })
).pipe(
  Command.withDescription(
    "Run a scenario of the chapter (real sockets on 127.0.0.1): " +
      All.SCENARIOS.map((s) => `${s.name} (${s.description})`).join("; ") + "; all (every one, with a verdict each)."
  )
)

// ---- serve ----------------------------------------------------------------------------------

const host = Options.text("host").pipe(Options.withDefault("127.0.0.1"), Options.withDescription("interface to listen on / host to connect to"))
const framing = Options.choice("framing", FRAMINGS).pipe(
  Options.withDescription(
    `how frames are delimited: ${FRAMINGS.map((f) => `${f} = ${FRAMING_HELP[f]}`).join("; ")}. ` +
      "Default: lines for text (serve echo|chat, --format text), length-prefixed for JSON (serve json-rpc, --format json|jsonrpc)"
  ),
  Options.optional
)

const serveCommand = Command.make(
  "serve",
  {
    kind: Args.choice([["echo", "echo"], ["chat", "chat"], ["json-rpc", "json-rpc"]] as const, { name: "server" }).pipe(
      Args.withDescription("echo (ECHO: <line>), chat (broadcast to every client) or json-rpc (the chapter's JSON requests)")
    ),
    host,
    port: Options.integer("port").pipe(Options.withDefault(7070), Options.withDescription("port to listen on (0 picks a free one)")),
    framing,
    quiet: Options.boolean("quiet").pipe(Options.withDescription("do not print each connection and request"))
  },
  ({ framing, host, kind, port, quiet }) =>
    Effect.scoped(
      Effect.gen(function*() {
        const framingName: FramingName = Option.getOrElse(framing, () => defaultFraming(kind))
        const options = { host, port, framing: framingCodec(framingName), verbose: !quiet }
        const started = kind === "echo"
          ? echoServer(options)
          : kind === "chat"
          ? Effect.map(chatServer(options), (c) => c.server)
          : jsonRpcServer({ ...options, jsonRpc2: true })
        const server = yield* started.pipe(
          Effect.catchTag("ListenError", (e) =>
            new CliFailure({
              message: `${e.message}${e.code === "EADDRINUSE" ? " (another process uses this port: pick another with --port, or --port 0)" : ""}`,
              code: EXIT.connect
            }))
        )
        yield* Output.line(
          `listening on ${hostPort(server.address)} (${kind}, ${framingName} framing); Ctrl-C or SIGTERM stops it gracefully`
        )
        return yield* Effect.never.pipe(
          Effect.onInterrupt(() =>
            server.shutdown.pipe(
              Effect.zipRight(server.stats),
              Effect.flatMap((s) =>
                Output.line(
                  `stopped: ${s.accepted} connection(s) accepted, ${s.active} active, ${s.frames} request(s), ` +
                    `${s.errors} error(s), ${s.rejected} rejected, ${s.bytesIn} bytes in, ${s.bytesOut} bytes out`
                )
              )
            )
          )
        )
      })
    )
).pipe(Command.withDescription("Run a server until Ctrl-C / SIGTERM, then shut down gracefully and print its stats."))

// ---- call / send ----------------------------------------------------------------------------

type Format = "text" | "json" | "jsonrpc"

const clientOptions = {
  host,
  port: Options.integer("port").pipe(Options.withDescription("the server's port")),
  framing,
  format: Options.choice("format", ["text", "json", "jsonrpc"] as const).pipe(
    Options.withDefault("text" as Format),
    Options.withDescription("text (UTF-8 frames), json (each message is a JSON value), jsonrpc (messages: METHOD [PARAMS_JSON], sent as JSON-RPC 2.0)")
  ),
  json: Options.boolean("json").pipe(Options.withDescription("print machine-readable JSON lines instead of text")),
  timeout: Options.integer("timeout").pipe(Options.withDefault(10), Options.withDescription("seconds to wait for the server"))
}

const messagesArg = Args.text({ name: "message" }).pipe(Args.repeated, Args.withDescription("the frames to send, one per argument"))

const parseJson = (text: string) =>
  Effect.try({
    try: () => JSON.parse(text) as unknown,
    catch: () => new CliFailure({ message: `not valid JSON: ${text}`, code: EXIT.usage })
  })

/** The frames to send for `format`. */
const framesFor = (format: Format, messages: ReadonlyArray<string>): Effect.Effect<Array<unknown>, CliFailure> => {
  if (format === "text") return Effect.succeed([...messages])
  if (format === "json") return Effect.forEach(messages, parseJson)
  const [method, params, ...rest] = messages
  if (method === undefined || rest.length > 0) {
    return Effect.fail(new CliFailure({ message: "jsonrpc format takes METHOD [PARAMS_JSON]", code: EXIT.usage }))
  }
  return Effect.map(params === undefined ? Effect.succeed(undefined) : parseJson(params), (p) => [
    { jsonrpc: "2.0", id: 1, method, ...(p === undefined ? {} : { params: p }) }
  ])
}

const show = (frame: unknown): string => (typeof frame === "string" ? frame : JSON.stringify(frame))

/** Turns a client-side failure into one clear line with an exit code. */
const explain = (where: string, timeout: number, framingName: FramingName) =>
(cause: Cause.Cause<unknown>): Effect.Effect<never, CliFailure> => {
  if (Cause.isInterruptedOnly(cause)) return Effect.interrupt
  const error = Cause.squash(cause)
  const tag = typeof error === "object" && error !== null && "_tag" in error ? String(error._tag) : ""
  if (error instanceof CliFailure) return Effect.fail(error)
  if (tag === "ConnectError") return Effect.fail(new CliFailure({ message: (error as Error).message, code: EXIT.connect }))
  if (tag === "TimeoutException") {
    return Effect.fail(
      new CliFailure({
        message: `no answer from ${where} within ${timeout} s (is it the right server, and does it speak ${framingName} framing?)`,
        code: EXIT.protocol
      })
    )
  }
  // The first reply cannot be framed: most likely the server speaks another framing.
  const first = firstFrameError(error)
  if (first !== undefined) {
    const line = framingMismatch({ what: "the reply", expected: framingName, peer: "server", flag: "--framing" }, first)
    return Effect.fail(new CliFailure({ message: `${where}: ${line}`, code: EXIT.protocol }))
  }
  const message = error instanceof Error ? error.message : String(error)
  return Effect.fail(new CliFailure({ message: `${where}: ${message}`, code: EXIT.protocol }))
}

const clientCodec = (framingName: FramingName, format: Format): Codec<unknown, unknown> =>
  format === "text" ? Message.text(framingCodec(framingName)) as Codec<unknown, unknown> : Message.json(framingCodec(framingName))

interface ClientArgs {
  readonly format: Format
  readonly framing: Option.Option<FramingName>
  readonly host: string
  readonly messages: ReadonlyArray<string>
  readonly port: number
  readonly timeout: number
}

/** Connects, frames the connection, runs `talk` within the timeout, and explains failures in one line. */
const withPeer = <A, E, R>(
  args: ClientArgs,
  talk: (frames: ReadonlyArray<unknown>, peer: FramedPeer<unknown, unknown>) => Effect.Effect<A, E, R>
) =>
  Effect.gen(function*() {
    const frames = yield* framesFor(args.format, args.messages)
    const framingName = Option.getOrElse(args.framing, () => defaultFraming(args.format))
    return yield* Effect.scoped(
      Effect.gen(function*() {
        const conn = yield* Client.connect({ host: args.host, port: args.port, connectTimeout: Duration.seconds(args.timeout) })
        const peer = yield* framedPeer(conn, clientCodec(framingName, args.format))
        return yield* talk(frames, peer)
      })
    ).pipe(
      Effect.timeout(Duration.seconds(args.timeout)),
      Effect.catchAllCause(explain(`${args.host}:${args.port}`, args.timeout, framingName))
    )
  })

/** The error of a reply that is one (JSON-RPC's `{"error": {"code", "message"}}`), else undefined. */
const errorOf = (reply: unknown): { readonly code: unknown; readonly message?: unknown } | undefined => {
  if (typeof reply !== "object" || reply === null || Array.isArray(reply)) return undefined
  const error = (reply as { readonly error?: unknown }).error
  return typeof error === "object" && error !== null && "code" in error ? error : undefined
}

const callCommand = Command.make(
  "call",
  { ...clientOptions, messages: messagesArg },
  (args) =>
    Effect.gen(function*() {
      const errors = yield* withPeer(args, (frames, peer) =>
        Effect.gen(function*() {
          const errors: Array<string> = []
          for (const frame of frames) {
            yield* peer.send(frame)
            const reply = yield* peer.next
            yield* args.json
              ? Output.line(JSON.stringify({ request: frame, reply }))
              : Output.line(show(reply))
            const error = args.format === "text" ? undefined : errorOf(reply)
            if (error !== undefined) {
              errors.push(`${String(error.code)}${typeof error.message === "string" ? `: ${error.message}` : ""}`)
            }
          }
          return errors
        }))
      // Every reply is printed first; then an error reply makes the exit code say so (scripts).
      if (errors.length > 0) {
        return yield* new CliFailure({
          message: `${args.host}:${args.port} answered with ${errors.length === 1 ? "error" : `${errors.length} errors:`} ${errors.join("; ")}`,
          code: EXIT.protocol
        })
      }
    })
).pipe(
  Command.withDescription(
    "Send each message as one frame and print the server's one-frame answer to each; exit code 4 when an answer is an error (a JSON reply with an error object)."
  )
)

const sendCommand = Command.make(
  "send",
  { ...clientOptions, messages: messagesArg },
  (args) =>
    withPeer(args, (frames, peer) =>
      Effect.gen(function*() {
        yield* peer.sendAll(frames)
        yield* peer.connection.endWrite
        for (;;) {
          const frame = yield* peer.nextOption
          if (Option.isNone(frame)) break
          yield* Output.line(args.json ? JSON.stringify({ frame: frame.value }) : show(frame.value))
        }
      }))
).pipe(
  Command.withDescription("Send every message as a frame, half-close, and print every frame the server sends until it closes.")
)

// ---- root -----------------------------------------------------------------------------------

export const command = Command.make("effect-wire").pipe(
  Command.withDescription(
    "effect-wire: typed TCP protocols on Effect. Exit codes: 0 ok, 1 scenario failed, 2 bad usage, 3 cannot connect/listen, 4 peer misbehaved or call got an error reply."
  ),
  Command.withSubcommands([scenarioCommand, serveCommand, callCommand, sendCommand])
)

/** The CLI as a function of argv (`process.argv` shape: node, script, args…). */
export const cli = Command.run(command, { name: "effect-wire", version: "0.1.0" })
