/**
 * The listening socket of a server: plain TCP, TLS (`node:tls`, with a handshake timeout, SNI
 * identities and certificate reload) or a Unix domain socket (a stale file of a dead server
 * removed at start, only when nothing answers on it).
 */
import { Effect } from "effect"
import * as Fs from "node:fs"
import * as Net from "node:net"
import * as NodeTls from "node:tls"
import type { Address } from "../../connection/Connection.js"
import { type Identity, reason, type ServerOptions as TlsOptions, TlsError } from "../../connection/Tls.js"
import { toNodePem } from "../../internal/pem.js"
import { ListenError } from "../ServerError.js"

const contextOptions = (identity: Identity): NodeTls.SecureContextOptions => {
  const out: NodeTls.SecureContextOptions = { key: toNodePem(identity.key)!, cert: toNodePem(identity.cert)! }
  if (identity.ca !== undefined) out.ca = toNodePem(identity.ca)!
  if (identity.passphrase !== undefined) out.passphrase = identity.passphrase
  return out
}

/** The SNI identities of a TLS server, replaced whole by `setSecureContext`. */
class Identities {
  private exact = new Map<string, NodeTls.SecureContext>()
  private wildcard = new Map<string, NodeTls.SecureContext>()

  set(hosts: Readonly<Record<string, Identity>> | undefined): void {
    const exact = new Map<string, NodeTls.SecureContext>()
    const wildcard = new Map<string, NodeTls.SecureContext>()
    for (const [name, identity] of Object.entries(hosts ?? {})) {
      const context = NodeTls.createSecureContext(contextOptions(identity))
      const lower = name.toLowerCase()
      if (lower.startsWith("*.")) wildcard.set(lower.slice(2), context)
      else exact.set(lower, context)
    }
    this.exact = exact
    this.wildcard = wildcard
  }

  /** The context for `servername`, or undefined for the server's default. */
  find(servername: string): NodeTls.SecureContext | undefined {
    const name = servername.toLowerCase()
    const exact = this.exact.get(name)
    if (exact !== undefined) return exact
    const dot = name.indexOf(".")
    return dot === -1 ? undefined : this.wildcard.get(name.slice(dot + 1))
  }
}

/** A server's listening socket, before it listens. */
export interface Listener {
  readonly net: Net.Server
  /** The event that hands over a connection ready for its handler. */
  readonly accepted: "connection" | "secureConnection"
  /** Replaces the TLS identities (default and SNI) for new connections. */
  readonly setSecureContext: (options: Identity & { readonly hosts?: Readonly<Record<string, Identity>> }) => void
  /**
   * Destroys the connections still in their handshake. Called once the handed-over connections
   * are gone (at the end of a shutdown), so every socket left is one of those.
   */
  readonly destroyPending: () => void
}

const nothing = (): void => {}

/** A plain TCP (or Unix socket) listener. */
export const plain = (): Listener => ({
  net: Net.createServer({ allowHalfOpen: true, pauseOnConnect: false, noDelay: true }),
  accepted: "connection",
  setSecureContext: () => {
    throw new Error("not a TLS server")
  },
  destroyPending: nothing
})

/**
 * The raw connections of a TLS server, each until it closes: at the end of a shutdown, when the
 * handed-over connections are gone, those left are still in their handshake and are destroyed,
 * so that a peer stuck there is bounded by the shutdown too, not only by the handshake timeout.
 * (A raw socket cannot be matched to its TLS socket with public API: a Unix socket's peers have
 * no address. Hence the whole set, once the others are gone.)
 */
class Handshakes {
  private readonly raw = new Set<Net.Socket>()

  constructor(net: Net.Server, onFailure: (error: NodeJS.ErrnoException, socket: NodeTls.TLSSocket) => void) {
    net.on("connection", (raw: Net.Socket) => {
      this.raw.add(raw)
      raw.once("close", () => this.raw.delete(raw))
    })
    // With a listener for this event Node leaves the socket open (a timed-out one would stay
    // forever): it is destroyed here.
    net.on("tlsClientError", (error: NodeJS.ErrnoException, socket: NodeTls.TLSSocket) => {
      // Reported first: a destroyed socket no longer knows its peer's address.
      onFailure(error, socket)
      socket.destroy()
    })
  }

  destroyAll(): void {
    for (const raw of this.raw) raw.destroy()
    this.raw.clear()
  }
}

/**
 * A TLS listener; `handshakeMillis` bounds each handshake, `onFailure` hears of each failed one
 * (its socket is destroyed).
 */
export const secure = (
  options: TlsOptions,
  handshakeMillis: number,
  onFailure: (error: TlsError) => void
): Listener => {
  const identities = new Identities()
  identities.set(options.hosts)
  const hasHosts = options.hosts !== undefined && Object.keys(options.hosts).length > 0
  const net = NodeTls.createServer(
    {
      ...contextOptions(options),
      allowHalfOpen: true,
      pauseOnConnect: false,
      noDelay: true,
      requestCert: options.requestCert ?? false,
      rejectUnauthorized: options.rejectUnauthorized ?? true,
      handshakeTimeout: handshakeMillis,
      minVersion: options.minVersion ?? "TLSv1.2",
      ...(options.alpnProtocols === undefined ? {} : { ALPNProtocols: [...options.alpnProtocols] }),
      ...(hasHosts ? { SNICallback: (name: string, cb) => cb(null, identities.find(name)) } : {})
    } satisfies NodeTls.TlsOptions
  )
  const handshakes = new Handshakes(net, (error, socket) => onFailure(handshakeError(error, socket)))
  return {
    net,
    accepted: "secureConnection",
    setSecureContext: (next) => {
      ;(net as NodeTls.Server).setSecureContext(contextOptions(next))
      if (next.hosts !== undefined) identities.set(next.hosts)
    },
    destroyPending: () => handshakes.destroyAll()
  }
}

/** The TLS error of a failed handshake, as the server saw it. */
const handshakeError = (error: NodeJS.ErrnoException, socket: NodeTls.TLSSocket): TlsError =>
  new TlsError({
    side: "server",
    peer: socket.remoteAddress === undefined ? "a Unix socket peer" : `${socket.remoteAddress}:${socket.remotePort}`,
    code: error.code,
    detail: reason(error.message)
  })

/** Where to listen. */
export interface Where {
  readonly host: string
  readonly port: number
  readonly path: string | undefined
  readonly backlog: number
  readonly permissions: number | undefined
}

const listenError = (where: Where, code: string | undefined, detail: string) =>
  new ListenError({ host: where.path ?? where.host, port: where.path === undefined ? where.port : 0, code, detail })

/**
 * Removes the socket file of a dead server at `path`: only a socket, and only when connecting to
 * it is refused (a live server answers; a regular file is never removed).
 */
const clearStale = (where: Where, path: string): Effect.Effect<void, ListenError> =>
  Effect.async<void, ListenError>((resume) => {
    let stat: Fs.Stats
    try {
      stat = Fs.lstatSync(path)
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code
      return resume(code === "ENOENT" ? Effect.void : Effect.fail(listenError(where, code, String(e))))
    }
    if (!stat.isSocket()) {
      return resume(Effect.fail(listenError(where, "EEXIST", `${path} exists and is not a socket: not removing it`)))
    }
    const probe = Net.connect({ path })
    probe.once("connect", () => {
      probe.destroy()
      resume(Effect.fail(listenError(where, "EADDRINUSE", `a server is answering on ${path}`)))
    })
    probe.once("error", (e: NodeJS.ErrnoException) => {
      if (e.code !== "ECONNREFUSED") return resume(Effect.fail(listenError(where, e.code, e.message)))
      try {
        Fs.unlinkSync(path)
        resume(Effect.void)
      } catch (u) {
        resume(Effect.fail(listenError(where, (u as NodeJS.ErrnoException).code, String(u))))
      }
    })
  })

/** Listens; the bound address (for a Unix socket: its path as `host`, port 0, family `unix`). */
export const listen = (net: Net.Server, where: Where): Effect.Effect<Address, ListenError> =>
  Effect.gen(function*() {
    const path = where.path
    if (path !== undefined) yield* clearStale(where, path)
    yield* Effect.async<void, ListenError>((resume) => {
      const onError = (error: NodeJS.ErrnoException) =>
        resume(Effect.fail(listenError(where, error.code, error.message)))
      net.once("error", onError)
      const options = path === undefined
        ? { host: where.host, port: where.port, backlog: where.backlog }
        : { path, backlog: where.backlog }
      net.listen(options, () => {
        net.off("error", onError)
        resume(Effect.void)
      })
    })
    if (path !== undefined) {
      if (where.permissions !== undefined) {
        yield* Effect.try({
          try: () => Fs.chmodSync(path, where.permissions!),
          catch: (e) => listenError(where, (e as NodeJS.ErrnoException).code, String(e))
        }).pipe(Effect.tapError(() => Effect.sync(() => net.close())))
      }
      return { host: path, port: 0, family: "unix" }
    }
    const bound = net.address() as Net.AddressInfo
    return { host: bound.address, port: bound.port, family: bound.family }
  })
