/**
 * The `effect-wire` command line (`@effect/cli`): run the chapter's scenarios, serve the echo,
 * chat and JSON servers to real peers, and talk to any framed server.
 *
 * Every flag is declared once (`internal/flags.ts`): its parser (ports, counts, sizes like
 * `64KiB`, durations like `30s`, choices), its default and its help. `cli.ts` checks the command
 * line against these declarations before `@effect/cli` parses it, so a bad flag is one line
 * naming the flag, the value and what is allowed, exit 2. `serve` exposes the server's limits
 * (`Server.ServerOptions`: connections, timeouts, buffers, shutdown) and the framing's; a limit
 * not given is left to the library's default, which help shows.
 *
 * TLS and Unix domain sockets: `serve --tls-cert FILE --tls-key FILE [--tls-ca FILE
 * --tls-require-client-cert]` (the startup line names the certificate and its SHA-256
 * fingerprint), `call` / `send --tls [--tls-ca FILE] [--tls-cert FILE --tls-key FILE]
 * [--servername NAME] [--insecure]`, `--path FILE` instead of `--host` / `--port` on all three
 * (`serve --socket-mode 660`), and `scenario … --tls`, every scenario's servers and clients over
 * TLS with a self-signed certificate made for the run by the `openssl` command line. The TLS
 * files are read and checked before anything listens or connects (a missing file, one that is no
 * certificate or key, a key that is not the certificate's: one line, exit 2); a failed handshake
 * is the `Tls.TlsError`'s line with its hint, exit 3.
 *
 * Exit codes (`EXIT_CODES`): 0 success · 1 a scenario failed (or an unexpected error) · 2 bad
 * usage · 3 cannot connect or listen · 4 the peer misbehaved (closed early, bad frame, no answer
 * in time) or `call` got an error reply (a JSON reply with an `error` object, e.g. JSON-RPC's).
 *
 * Without `--framing`, text is framed as lines (`serve echo`, `serve chat`, `--format text`) and
 * JSON with the chapter's 4-byte length prefix (`serve json-rpc`, `--format json|jsonrpc`), so
 * `serve X` and `call --format Y` agree out of the box. A framing error in the first frame read
 * (a peer speaking another framing) is one line naming the framing expected and the `--framing`
 * the bytes suggest.
 *
 * @since 0.1.0
 */
import { Args, Command } from "@effect/cli"
import { Cause, Data, Duration, Effect, Option } from "effect"
import * as Client from "../client/Client.js"
import * as Connection from "../connection/Connection.js"
import * as Tls from "../connection/Tls.js"
import type { Codec } from "../protocol/Codec.js"
import * as Message from "../protocol/Message.js"
import type * as Server from "../server/Server.js"
import * as All from "./all.js"
import { chatServer } from "./chat.js"
import { echoServer } from "./echo.js"
import * as Flags from "./internal/flags.js"
import {
  defaultFraming,
  firstFrameError,
  FRAMING_DEFAULTS,
  FRAMING_HELP,
  framingCodec,
  type FramingLimits,
  framingMismatch,
  type FramingName,
  FRAMINGS
} from "./internal/framing.js"
import { type FramedPeer, framedPeer, hostPort } from "./internal/peer.js"
import * as TlsFiles from "./internal/tlsFiles.js"
import * as Wire from "./internal/wire.js"
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

/** The exit codes as help and the README list them. */
export const EXIT_CODES = [
  "0  success; serve: stopped by Ctrl-C or SIGTERM after a graceful shutdown",
  "1  a scenario failed, or an unexpected error",
  "2  bad usage: an unknown command or flag, a missing or invalid value, a flag that does not apply " +
  "(one line on stderr names the flag, the value and what is allowed)",
  "3  cannot connect (call, send; a failed TLS handshake too) or listen (serve: port in use, no permission, unknown host)",
  "4  the peer misbehaved: closed early, sent a bad frame or another framing, or gave no answer " +
  "within --timeout; or call got an error reply (a JSON reply with an error object), printed first"
].join("\n")

const DURATION_NOTE = "DURATION  500ms, 30s, 1.5s, 5m or 1h; a bare number is seconds; at most 24 days"
const VALUES_NOTE = [DURATION_NOTE, "SIZE      a number of bytes, or with KiB or MiB: 65536, 64KiB, 1MiB"].join("\n")

// ---- scenario -------------------------------------------------------------------------------

const isScalability = (name: string | undefined) => name === "scalability" || name === "all"

const scenarioFlags = {
  chart: Flags.text("chart", {
    metavar: "FILE.svg",
    help: "scalability: write an SVG chart of req/s and memory against N to this file"
  }),
  budget: Flags.duration("budget", {
    help:
      "scalability: how long the rounds may take in all; a larger N the measured rate says would not fit is skipped, with a note",
    default: `${DEFAULT_BUDGET_SECONDS}s`
  }),
  tls: Flags.toggle(
    "tls",
    "run every server and client over TLS, with a self-signed certificate for localhost / 127.0.0.1 made for the run " +
      "by the openssl command line (its SHA-256 fingerprint is printed); clients trust exactly it"
  )
}

const scenarioSpec: Flags.CommandSpec = {
  name: "scenario",
  summary: "run a scenario of the chapter, or all of them with a verdict each",
  description: ["Run a scenario of the chapter on real sockets on 127.0.0.1 and print what the chapter shows."],
  positional: {
    name: "name",
    noun: "scenario",
    help: "the scenario to run:",
    values: All.NAMES,
    described: [...All.SCENARIOS.map((s) => [s.name, s.description] as const), [
      "all",
      "every one, with a verdict each"
    ]],
    min: 1,
    max: 1
  },
  sections: [{ title: "FLAGS", flags: [scenarioFlags.tls, scenarioFlags.chart, scenarioFlags.budget] }],
  check: ({ flags, positionals }) => {
    for (const flag of ["chart", "budget"]) {
      if (flags.has(flag) && !isScalability(positionals[0])) {
        return `--${flag} applies only to scenario scalability or all, not ${JSON.stringify(positionals[0])}`
      }
    }
    return undefined
  },
  notes: [["VALUES", DURATION_NOTE]]
}

const scenarioCommand = Command.make(
  "scenario",
  {
    name: Args.choice(All.NAMES.map((n) => [n, n] as [string, string]), { name: "name" }),
    chart: Flags.optional(scenarioFlags.chart),
    budget: Flags.withDefault(scenarioFlags.budget),
    tls: Flags.switchOption(scenarioFlags.tls)
  },
  ({ budget, chart, name, tls }) =>
    Effect.gen(function*() {
      const options = {
        ...(Option.isSome(chart) ? { chart: chart.value } : {}),
        budgetSeconds: budget / 1000
      }
      const wire = tls ? Wire.tls(yield* scenarioCertificate) : Wire.plain
      const summaries = yield* (name === "all"
        ? All.run(options)
        : Effect.map(All.runOne(All.SCENARIOS.find((s) => s.name === name)!, options), (s) => [s])).pipe(
          Effect.provideService(Wire.Wire, wire)
        )
      if (name !== "all") {
        const s = summaries[0]!
        yield* Output.line(`${s.ok ? "✔" : "✘"} ${s.name}: ${s.summary}`, s.ok ? "ok" : "error")
      }
      const failed = summaries.filter((s) => !s.ok).length
      if (failed > 0) return yield* new CliFailure({ message: `${failed} scenario(s) failed`, code: EXIT.failed })
    })
).pipe(Command.withDescription(scenarioSpec.summary))

/** The self-signed certificate of `scenario --tls`, made and announced once for the run. */
const scenarioCertificate = Wire.selfSigned.pipe(
  Effect.mapError((e) => new CliFailure({ message: e.message, code: EXIT.usage })),
  Effect.tap((c) =>
    Output.line(
      `TLS: every server presents a self-signed certificate made for this run (${c.subjectAltName}), ` +
        `SHA-256 fingerprint ${c.fingerprint256}; every client trusts exactly it`,
      "accent"
    )
  )
)

// ---- serve ----------------------------------------------------------------------------------

const framingHelp = `how frames are delimited: ${FRAMINGS.map((f) => `${f} = ${FRAMING_HELP[f]}`).join("; ")}`

const maxFrameBytes = Flags.size("max-frame-bytes", {
  help: "the largest frame (a line, for lines framing) read or written; a larger one is a framing error",
  defaultText: `${Flags.formatSize(FRAMING_DEFAULTS.maxLineBytes)} for lines, ${
    Flags.formatSize(FRAMING_DEFAULTS.maxFrameBytes)
  } for the others`
})

/** The connection limits' defaults are the library's own. */
const CONNECTION_DEFAULTS = Connection.config({})
const ms = (millis: number) => Flags.formatDuration(millis)

const serveFlags = {
  host: Flags.text("host", { metavar: "HOST", help: "interface to listen on", default: "127.0.0.1" }),
  port: Flags.port({ min: 0, help: "port to listen on, 0 picks a free one", default: "7070" }),
  framing: Flags.choice("framing", FRAMINGS, {
    help: framingHelp,
    defaultText: "lines for echo and chat, length-prefixed for json-rpc"
  }),
  quiet: Flags.toggle("quiet", "do not print each connection and request"),
  path: Flags.text("path", {
    metavar: "FILE",
    help:
      "listen on this Unix domain socket instead of --host / --port (a socket file left by a dead server is replaced, " +
      "a live server's is not)"
  }),
  socketMode: Flags.fileMode("socket-mode", {
    help: "with --path: the socket file's mode, e.g. 660 to let the group connect (default: the umask's)"
  }),
  tlsCert: Flags.text("tls-cert", {
    metavar: "FILE",
    help:
      "serve over TLS with this certificate (PEM; intermediate CAs after it); its SHA-256 fingerprint is printed at startup"
  }),
  tlsKey: Flags.text("tls-key", { metavar: "FILE", help: "the certificate's private key (PEM, unencrypted)" }),
  tlsCa: Flags.text("tls-ca", {
    metavar: "FILE",
    help: "with --tls-require-client-cert: the CA certificates (PEM) client certificates must be signed by"
  }),
  tlsRequireClientCert: Flags.toggle(
    "tls-require-client-cert",
    "mutual TLS: ask every client for a certificate signed by --tls-ca, and refuse a client without one"
  ),
  // The server's defaults are those of `Server.make` (src/server/Server.ts).
  maxConnections: Flags.integer("max-connections", {
    min: 1,
    help: "open connections at most; a client past it is closed at once and counted as rejected",
    default: "1024"
  }),
  backlog: Flags.integer("backlog", {
    min: 1,
    max: 65_535,
    help: "listen backlog (the OS may cap it)",
    default: "2048"
  }),
  idleTimeout: Flags.duration("idle-timeout", {
    help: "how long a connection may wait for a request with nothing half-received before it is closed",
    default: ms(CONNECTION_DEFAULTS.idleMillis)
  }),
  frameReadTimeout: Flags.duration("frame-read-timeout", {
    help: "how long a request may take to arrive from its first byte",
    default: ms(CONNECTION_DEFAULTS.frameReadMillis)
  }),
  writeStallTimeout: Flags.duration("write-stall-timeout", {
    help: "how long a reply may wait for a client that does not read",
    default: ms(CONNECTION_DEFAULTS.writeStallMillis)
  }),
  halfClosedTimeout: Flags.duration("half-closed-timeout", {
    help: "how long a connection may stay open after the client half-closed, while its requests are answered",
    default: ms(CONNECTION_DEFAULTS.halfClosedMillis)
  }),
  linger: Flags.duration("linger", {
    help: "how long a closing connection waits for the client's FIN",
    zero: "closes at once",
    default: ms(CONNECTION_DEFAULTS.lingerMillis)
  }),
  maxOutboundBytes: Flags.size("max-outbound-bytes", {
    help: "queued reply bytes past which a connection fails (a client that never reads)",
    default: Flags.formatSize(CONNECTION_DEFAULTS.maxOutboundBytes)
  }),
  readHighWaterMark: Flags.size("read-high-water-mark", {
    help: "unread bytes at which reading from a connection pauses",
    default: Flags.formatSize(CONNECTION_DEFAULTS.readHighWaterMark)
  }),
  writeHighWaterMark: Flags.size("write-high-water-mark", {
    help: "queued reply bytes past which a reply waits for the client to read",
    default: Flags.formatSize(CONNECTION_DEFAULTS.writeHighWaterMark)
  }),
  maxFrameBytes,
  maxHeaderBytes: Flags.size("max-header-bytes", {
    help: "content-length framing: the largest header block",
    default: Flags.formatSize(FRAMING_DEFAULTS.maxHeaderBytes)
  }),
  shutdownDeadline: Flags.duration("shutdown-deadline", {
    help: "on Ctrl-C / SIGTERM, how long requests in flight may still run",
    zero: "interrupts them at once",
    default: "30s"
  }),
  flushTimeout: Flags.duration("flush-timeout", {
    help: "then how long interrupted connections get to flush before their sockets are destroyed",
    zero: "destroys them at once",
    default: "1s"
  })
}

/** The library's option names in its messages, as the flags that set them. */
const LIBRARY_NAMES: ReadonlyArray<readonly [RegExp, string]> = [
  [/\bmaxHeaderBytes\b/g, "--max-header-bytes"],
  [/\bmax(Frame|Line)Bytes\b/g, "--max-frame-bytes"],
  [/\bmaxConnections\b/g, "--max-connections"],
  [/\boption /g, ""]
]

/** A library's `IllegalArgumentException` message, with its option names as the CLI's flags. */
export const asFlags = (message: string): string =>
  LIBRARY_NAMES.reduce((m, [re, flag]) => m.replace(re, flag), message)

const serveSpec: Flags.CommandSpec = {
  name: "serve",
  summary: "run the echo, chat or json-rpc server until Ctrl-C / SIGTERM",
  description: [
    "Run a server until Ctrl-C / SIGTERM, then shut down gracefully (requests in flight are answered) and print its stats.",
    "netcat, the chapter's Python clients or any JSON-RPC library can talk to it."
  ],
  positional: {
    name: "server",
    help: "the server to run:",
    values: ["echo", "chat", "json-rpc"],
    described: [
      ["echo", "answers every frame with ECHO: <frame>"],
      ["chat", "broadcasts every line to every client, with join and leave notices"],
      ["json-rpc", "answers the chapter's JSON requests (add, greet, echo) and JSON-RPC 2.0"]
    ],
    min: 1,
    max: 1
  },
  sections: [
    { title: "FLAGS", flags: [serveFlags.host, serveFlags.port, serveFlags.framing, serveFlags.quiet] },
    {
      title: "CONNECTION LIMITS",
      flags: [
        serveFlags.maxConnections,
        serveFlags.backlog,
        serveFlags.idleTimeout,
        serveFlags.frameReadTimeout,
        serveFlags.writeStallTimeout,
        serveFlags.halfClosedTimeout,
        serveFlags.linger,
        serveFlags.maxOutboundBytes,
        serveFlags.readHighWaterMark,
        serveFlags.writeHighWaterMark
      ]
    },
    { title: "UNIX DOMAIN SOCKET", flags: [serveFlags.path, serveFlags.socketMode] },
    { title: "TLS", flags: [serveFlags.tlsCert, serveFlags.tlsKey, serveFlags.tlsCa, serveFlags.tlsRequireClientCert] },
    { title: "FRAME LIMITS", flags: [serveFlags.maxFrameBytes, serveFlags.maxHeaderBytes] },
    { title: "SHUTDOWN", flags: [serveFlags.shutdownDeadline, serveFlags.flushTimeout] }
  ],
  check: ({ flags, positionals }) => {
    const placement = serveAddressProblem(flags) ?? serveTlsProblem(flags)
    if (placement !== undefined) return placement
    const kind = positionals[0] as "echo" | "chat" | "json-rpc"
    const framingName = (flags.get("framing") as FramingName | undefined) ?? defaultFraming(kind)
    if (flags.has("max-header-bytes") && framingName !== "content-length") {
      return `--max-header-bytes applies only with --framing content-length (this server uses ${framingName})`
    }
    const size = (name: string) => {
      const raw = flags.get(name)
      return typeof raw === "string" ? Flags.parseSize(raw) : undefined
    }
    try {
      framingCodec(framingName, {
        ...(size("max-frame-bytes") === undefined ? {} : { maxFrameBytes: size("max-frame-bytes")! }),
        ...(size("max-header-bytes") === undefined ? {} : { maxHeaderBytes: size("max-header-bytes")! })
      })
    } catch (e) {
      return `${
        asFlags(e instanceof Error ? e.message : String(e))
      }: raise --max-header-bytes or lower --max-frame-bytes`
    }
    return undefined
  },
  notes: [["VALUES", VALUES_NOTE]]
}

/** `--path` is instead of `--host` / `--port`, and `--socket-mode` goes with it. */
const serveAddressProblem = (flags: ReadonlyMap<string, string | true>): string | undefined => {
  for (const other of ["port", "host"]) {
    if (flags.has("path") && flags.has(other)) {
      return `--path and --${other} are exclusive: listen on a Unix domain socket (--path) or on --host / --port`
    }
  }
  if (flags.has("socket-mode") && !flags.has("path")) {
    return "--socket-mode applies only with --path (a Unix domain socket)"
  }
  return undefined
}

/** A TLS server needs a certificate and its key; client certificates need the CA that signs them. */
const serveTlsProblem = (flags: ReadonlyMap<string, string | true>): string | undefined => {
  if (flags.has("tls-cert") && !flags.has("tls-key")) {
    return "--tls-cert needs --tls-key FILE: the certificate's private key"
  }
  if (flags.has("tls-key") && !flags.has("tls-cert")) {
    return "--tls-key needs --tls-cert FILE: the certificate it is the key of"
  }
  for (const flag of ["tls-ca", "tls-require-client-cert"]) {
    if (flags.has(flag) && !flags.has("tls-cert")) {
      return `--${flag} applies only to a TLS server: give --tls-cert FILE and --tls-key FILE`
    }
  }
  if (flags.has("tls-require-client-cert") && !flags.has("tls-ca")) {
    return "--tls-require-client-cert needs --tls-ca FILE: the CA certificates client certificates must be signed by"
  }
  return undefined
}

/** A bad TLS file is bad usage: one line naming the flag and the file. */
const usage = <A, R>(effect: Effect.Effect<A, TlsFiles.BadTlsFile, R>): Effect.Effect<A, CliFailure, R> =>
  Effect.mapError(effect, (e) => new CliFailure({ message: e.message, code: EXIT.usage }))

/** `{ [key]: f(value) }` for each given option, nothing for the absent ones (the library's defaults apply). */
const given = <A, B>(options: Record<string, Option.Option<A>>, f: (a: A) => B): Record<string, B> =>
  Object.fromEntries(Object.entries(options).flatMap(([k, o]) => (Option.isSome(o) ? [[k, f(o.value)]] : [])))

const serveCommand = Command.make(
  "serve",
  {
    kind: Args.choice([["echo", "echo"], ["chat", "chat"], ["json-rpc", "json-rpc"]] as const, { name: "server" }),
    host: Flags.withDefault(serveFlags.host),
    port: Flags.withDefault(serveFlags.port),
    framing: Flags.optional(serveFlags.framing),
    quiet: Flags.switchOption(serveFlags.quiet),
    path: Flags.optional(serveFlags.path),
    socketMode: Flags.optional(serveFlags.socketMode),
    tls: {
      cert: Flags.optional(serveFlags.tlsCert),
      key: Flags.optional(serveFlags.tlsKey),
      ca: Flags.optional(serveFlags.tlsCa),
      requireClientCert: Flags.switchOption(serveFlags.tlsRequireClientCert)
    },
    counts: {
      maxConnections: Flags.optional(serveFlags.maxConnections),
      backlog: Flags.optional(serveFlags.backlog),
      maxOutboundBytes: Flags.optional(serveFlags.maxOutboundBytes),
      readHighWaterMark: Flags.optional(serveFlags.readHighWaterMark),
      writeHighWaterMark: Flags.optional(serveFlags.writeHighWaterMark)
    },
    durations: {
      idleTimeout: Flags.optional(serveFlags.idleTimeout),
      frameReadTimeout: Flags.optional(serveFlags.frameReadTimeout),
      writeStallTimeout: Flags.optional(serveFlags.writeStallTimeout),
      halfClosedTimeout: Flags.optional(serveFlags.halfClosedTimeout),
      linger: Flags.optional(serveFlags.linger),
      shutdownDeadline: Flags.optional(serveFlags.shutdownDeadline),
      flushTimeout: Flags.optional(serveFlags.flushTimeout)
    },
    frames: {
      maxFrameBytes: Flags.optional(serveFlags.maxFrameBytes),
      maxHeaderBytes: Flags.optional(serveFlags.maxHeaderBytes)
    }
  },
  ({ counts, durations, frames, framing, host, kind, path, port, quiet, socketMode, tls }) =>
    Effect.scoped(
      Effect.gen(function*() {
        const framingName: FramingName = Option.getOrElse(framing, () => defaultFraming(kind))
        const limits: Partial<Server.ServerOptions> = {
          ...given(counts, (n) => n),
          ...given(durations, Duration.millis)
        }
        // The TLS files are read and checked before listening (the argv check saw the pairs).
        const identity = Option.isSome(tls.cert) && Option.isSome(tls.key)
          ? yield* usage(TlsFiles.identity({ cert: tls.cert.value, key: tls.key.value }))
          : undefined
        const ca = Option.isSome(tls.ca) ? yield* usage(TlsFiles.authorities(tls.ca.value)) : undefined
        const options = {
          ...limits,
          ...(Option.isSome(path)
            ? { path: path.value, ...(Option.isSome(socketMode) ? { permissions: socketMode.value } : {}) }
            : { host, port }),
          ...(identity === undefined ? {} : { tls: TlsFiles.serverOptions(identity, ca, tls.requireClientCert) }),
          framing: framingCodec(framingName, given(frames, (n) => n)),
          verbose: !quiet
        }
        const started = kind === "echo"
          ? echoServer(options)
          : kind === "chat"
          ? Effect.map(chatServer(options), (c) => c.server)
          : jsonRpcServer({ ...options, jsonRpc2: true })
        const server = yield* started.pipe(
          Effect.catchTag("ListenError", (e) =>
            new CliFailure({
              message: `${e.message}${
                e.code !== "EADDRINUSE"
                  ? ""
                  : Option.isSome(path)
                  ? " (a server is listening on this socket: stop it, or pick another --path)"
                  : " (another process uses this port: pick another with --port, or --port 0)"
              }`,
              code: EXIT.connect
            }))
        )
        const where = Option.isSome(path) ? server.address.host : hostPort(server.address)
        const secured = identity === undefined
          ? ""
          : `, TLS: ${TlsFiles.describe(identity.certificate)}${
            tls.requireClientCert ? ", client certificates required" : ""
          }`
        yield* Output.line(
          `listening on ${where} (${kind}, ${framingName} framing${secured}); Ctrl-C or SIGTERM stops it gracefully`
        )
        return yield* Effect.never.pipe(
          Effect.onInterrupt(() =>
            server.shutdown.pipe(
              Effect.zipRight(server.stats),
              Effect.flatMap((s) =>
                Output.line(
                  `stopped: ${s.accepted} connection(s) accepted, ${s.active} active, ${s.frames} request(s), ` +
                    `${s.errors} error(s), ${s.rejected} rejected, ` +
                    `${
                      identity === undefined ? "" : `${s.tlsFailures} failed TLS handshake(s), `
                    }${s.bytesIn} bytes in, ${s.bytesOut} bytes out`
                )
              )
            )
          )
        )
      })
    )
).pipe(Command.withDescription(serveSpec.summary))

// ---- call / send ----------------------------------------------------------------------------

type Format = "text" | "json" | "jsonrpc"

const FORMATS = ["text", "json", "jsonrpc"] as const

const clientFlags = {
  host: Flags.text("host", { metavar: "HOST", help: "host to connect to", default: "127.0.0.1" }),
  port: Flags.port({ min: 1, help: "the server's port" }),
  framing: Flags.choice("framing", FRAMINGS, {
    help: framingHelp,
    defaultText: "lines for --format text, length-prefixed for json and jsonrpc"
  }),
  format: Flags.choice("format", FORMATS, {
    help:
      "text (UTF-8 frames), json (each message is a JSON value), jsonrpc (messages: METHOD [PARAMS_JSON], sent as JSON-RPC 2.0)",
    default: "text"
  }),
  json: Flags.toggle("json", "print machine-readable JSON lines instead of text"),
  timeout: Flags.duration("timeout", {
    help: "how long to wait for the server: to connect, and for the whole exchange",
    default: "10s"
  }),
  maxFrameBytes,
  path: Flags.text("path", { metavar: "FILE", help: "connect to this Unix domain socket instead of --host / --port" }),
  tls: Flags.toggle(
    "tls",
    "connect over TLS, verifying the server's certificate against the system's CAs (or --tls-ca) and the host name"
  ),
  tlsCa: Flags.text("tls-ca", {
    metavar: "FILE",
    help:
      "with --tls: trust the CA certificates in this PEM file instead of the system's (a self-signed server's own certificate works)"
  }),
  tlsCert: Flags.text("tls-cert", {
    metavar: "FILE",
    help: "with --tls: a client certificate (PEM), for servers that ask for one (mutual TLS)"
  }),
  tlsKey: Flags.text("tls-key", { metavar: "FILE", help: "with --tls-cert: its private key (PEM, unencrypted)" }),
  servername: Flags.text("servername", {
    metavar: "NAME",
    help:
      "with --tls: the server name to ask for (SNI) and to check the certificate against (default: --host, unless an IP address)"
  }),
  insecure: Flags.toggle(
    "insecure",
    "with --tls: do not verify the server's certificate (encrypted, not authenticated: for tests only)"
  )
}

const clientOptions = {
  host: Flags.withDefault(clientFlags.host),
  port: Flags.optional(clientFlags.port),
  path: Flags.optional(clientFlags.path),
  tls: Flags.switchOption(clientFlags.tls),
  tlsCa: Flags.optional(clientFlags.tlsCa),
  tlsCert: Flags.optional(clientFlags.tlsCert),
  tlsKey: Flags.optional(clientFlags.tlsKey),
  servername: Flags.optional(clientFlags.servername),
  insecure: Flags.switchOption(clientFlags.insecure),
  framing: Flags.optional(clientFlags.framing),
  format: Flags.withDefault(clientFlags.format),
  json: Flags.switchOption(clientFlags.json),
  timeout: Flags.withDefault(clientFlags.timeout),
  maxFrameBytes: Flags.optional(clientFlags.maxFrameBytes)
}

const clientSpec = (name: string, summary: string, description: string): Flags.CommandSpec => ({
  name,
  summary,
  description: [description],
  positional: { name: "message", help: "the frames to send, one per argument", min: 0, max: Number.POSITIVE_INFINITY },
  sections: [
    {
      title: "FLAGS",
      flags: [
        clientFlags.host,
        clientFlags.port,
        clientFlags.path,
        clientFlags.framing,
        clientFlags.format,
        clientFlags.json,
        clientFlags.timeout,
        clientFlags.maxFrameBytes
      ]
    },
    {
      title: "TLS",
      flags: [
        clientFlags.tls,
        clientFlags.tlsCa,
        clientFlags.tlsCert,
        clientFlags.tlsKey,
        clientFlags.servername,
        clientFlags.insecure
      ]
    }
  ],
  check: ({ flags }) => clientProblem(name, flags),
  notes: [["VALUES", VALUES_NOTE]]
})

/** `--port` or `--path`, not both; the TLS flags only with `--tls`, a certificate with its key. */
const clientProblem = (command: string, flags: ReadonlyMap<string, string | true>): string | undefined => {
  if (!flags.has("port") && !flags.has("path")) {
    return `${command} needs --port PORT: ${clientFlags.port.expected} (or --path FILE, a Unix domain socket)`
  }
  for (const other of ["port", "host"]) {
    if (flags.has("path") && flags.has(other)) {
      return `--path and --${other} are exclusive: connect to a Unix domain socket (--path) or to --host / --port`
    }
  }
  for (const flag of ["tls-ca", "tls-cert", "tls-key", "servername", "insecure"]) {
    if (flags.has(flag) && !flags.has("tls")) return `--${flag} applies only with --tls`
  }
  if (flags.has("tls-cert") && !flags.has("tls-key")) {
    return "--tls-cert needs --tls-key FILE: the certificate's private key"
  }
  if (flags.has("tls-key") && !flags.has("tls-cert")) {
    return "--tls-key needs --tls-cert FILE: the certificate it is the key of"
  }
  if (flags.has("insecure") && flags.has("tls-ca")) {
    return "--insecure does not verify the server's certificate, so --tls-ca would not be used: give one of them"
  }
  return undefined
}

const callSpec = clientSpec(
  "call",
  "send each message as a frame and print the server's answer to each",
  "Send each message as one frame and print the server's one-frame answer to each; exit code 4 when an answer " +
    "is an error (a JSON reply with an error object), after printing every answer."
)

const sendSpec = clientSpec(
  "send",
  "send every message, half-close, print every frame until the server closes",
  "Send every message as a frame, half-close, and print every frame the server sends until it closes."
)

const messagesArg = Args.text({ name: "message" }).pipe(
  Args.repeated,
  Args.withDescription("the frames to send, one per argument")
)

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
const explain =
  (where: string, timeout: number, framingName: FramingName, tls: boolean) =>
  (cause: Cause.Cause<unknown>): Effect.Effect<never, CliFailure> => {
    if (Cause.isInterruptedOnly(cause)) return Effect.interrupt
    const error = Cause.squash(cause)
    const tag = typeof error === "object" && error !== null && "_tag" in error ? String(error._tag) : ""
    if (error instanceof CliFailure) return Effect.fail(error)
    if (Client.isConnectError(error)) return Effect.fail(new CliFailure({ message: error.message, code: EXIT.connect }))
    if (Tls.isTlsError(error)) {
      // A certificate that does not verify: say how to trust it, or (for tests) not to check.
      const verify = error.code !== undefined && VERIFY_CODES.has(error.code)
        ? "; --insecure skips the check, for tests only"
        : ""
      return Effect.fail(new CliFailure({ message: `${error.message}${verify}`, code: EXIT.connect }))
    }
    // TLS 1.3 ends the handshake before the server checks the client: its refusal comes as an alert on the first read.
    const alert = typeof error === "object" && error !== null && "code" in error ? error.code : undefined
    if (typeof alert === "string" && alert.startsWith("ERR_SSL") && Tls.hint(alert) !== undefined) {
      return Effect.fail(
        new CliFailure({
          message: `${where}: the server ended the TLS session (${alert}): ${
            Tls.hint(alert)!.replace("`cert` / `key`", "--tls-cert / --tls-key")
          }`,
          code: EXIT.connect
        })
      )
    }
    if (tag === "TimeoutException") {
      return Effect.fail(
        new CliFailure({
          message: `no answer from ${where} within ${
            Flags.formatDuration(timeout)
          } (is it the right server, and does it speak ${framingName} framing${
            tls ? "?" : " over plain TCP? a TLS server needs --tls"
          })`,
          code: EXIT.protocol
        })
      )
    }
    // The first reply cannot be framed: most likely the server speaks another framing.
    const first = firstFrameError(error)
    if (first !== undefined) {
      const line = framingMismatch(
        { what: "the reply", expected: framingName, peer: "server", flag: "--framing" },
        first
      )
      return Effect.fail(new CliFailure({ message: `${where}: ${line}`, code: EXIT.protocol }))
    }
    const message = error instanceof Error ? error.message : String(error)
    return Effect.fail(new CliFailure({ message: `${where}: ${message}`, code: EXIT.protocol }))
  }

/** Verification failures `--insecure` would let through. */
const VERIFY_CODES: ReadonlySet<string> = new Set([
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "CERT_HAS_EXPIRED",
  "CERT_NOT_YET_VALID",
  "ERR_TLS_CERT_ALTNAME_INVALID"
])

const clientCodec = (framingName: FramingName, format: Format, limits: FramingLimits): Codec<unknown, unknown> =>
  format === "text"
    ? Message.text(framingCodec(framingName, limits)) as Codec<unknown, unknown>
    : Message.json(framingCodec(framingName, limits))

interface ClientArgs {
  readonly format: Format
  readonly framing: Option.Option<FramingName>
  readonly host: string
  readonly maxFrameBytes: Option.Option<number>
  readonly messages: ReadonlyArray<string>
  /** One of them (the argv check saw to it). */
  readonly port: Option.Option<number>
  readonly path: Option.Option<string>
  readonly tls: boolean
  readonly tlsCa: Option.Option<string>
  readonly tlsCert: Option.Option<string>
  readonly tlsKey: Option.Option<string>
  readonly servername: Option.Option<string>
  readonly insecure: boolean
  /** Milliseconds. */
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
    const tls = args.tls ? yield* clientTls(args) : undefined
    const address = Option.isSome(args.path)
      ? { path: args.path.value }
      : { host: args.host, port: Option.getOrElse(args.port, () => 0) }
    return yield* Effect.scoped(
      Effect.gen(function*() {
        const conn = yield* Client.connect({
          ...address,
          ...(tls === undefined ? {} : { tls }),
          connectTimeout: Duration.millis(args.timeout)
        })
        const limits = Option.isSome(args.maxFrameBytes) ? { maxFrameBytes: args.maxFrameBytes.value } : {}
        const peer = yield* framedPeer(conn, clientCodec(framingName, args.format, limits))
        return yield* talk(frames, peer)
      })
    ).pipe(
      Effect.timeout(Duration.millis(args.timeout)),
      Effect.catchAllCause(explain(whereOf(args), args.timeout, framingName, args.tls))
    )
  })

/** What the messages call the server: `host:port`, or the socket's path. */
const whereOf = (args: ClientArgs): string =>
  Option.isSome(args.path) ? args.path.value : hostPort({ host: args.host, port: Option.getOrElse(args.port, () => 0) })

/** The client's TLS options from its flags, the files read and checked first (bad usage if not). */
const clientTls = (args: ClientArgs): Effect.Effect<Tls.ClientOptions, CliFailure> =>
  usage(Effect.gen(function*() {
    const ca = Option.isSome(args.tlsCa) ? yield* TlsFiles.authorities(args.tlsCa.value) : undefined
    const id = Option.isSome(args.tlsCert) && Option.isSome(args.tlsKey)
      ? yield* TlsFiles.identity({ cert: args.tlsCert.value, key: args.tlsKey.value })
      : undefined
    return {
      ...(ca === undefined ? {} : { ca }),
      ...(id === undefined ? {} : { cert: id.cert, key: id.key }),
      ...(Option.isSome(args.servername) ? { servername: args.servername.value } : {}),
      ...(args.insecure ? { rejectUnauthorized: false } : {})
    }
  }))

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
          message: `${whereOf(args)} answered with ${errors.length === 1 ? "error" : `${errors.length} errors:`} ${
            errors.join("; ")
          }`,
          code: EXIT.protocol
        })
      }
    })
).pipe(
  Command.withDescription(callSpec.summary)
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
  Command.withDescription(sendSpec.summary)
)

// ---- root -----------------------------------------------------------------------------------

/** The program, for help. */
export const PROGRAM = {
  name: "effect-wire",
  version: "0.1.0",
  description: "Typed TCP protocols on Effect: run the chapter's scenarios, serve its echo, chat and JSON servers " +
    "to real peers, and talk to any framed server.",
  footer: [["EXIT CODES", EXIT_CODES]] as ReadonlyArray<readonly [string, string]>
}

/** Every command as the argv check and help see it. */
export const SPECS: ReadonlyArray<Flags.CommandSpec> = [scenarioSpec, serveSpec, callSpec, sendSpec]

export const command = Command.make("effect-wire").pipe(
  Command.withDescription(PROGRAM.description),
  Command.withSubcommands([scenarioCommand, serveCommand, callCommand, sendCommand])
)

/** The CLI as a function of argv (`process.argv` shape: node, script, args…). */
export const cli = Command.run(command, { name: PROGRAM.name, version: PROGRAM.version })
