/**
 * How the scenarios' servers and clients reach each other: plain TCP (the default), or TLS with
 * a self-signed certificate made for the run (`scenario … --tls`). One `Context.Reference`, read
 * where a scenario starts a server or a client, so that no scenario takes a TLS parameter of its
 * own and every one of them runs unchanged over either:
 *
 * - `server` / `client`: spread into `Server.make`, `Client.connect`, `RpcClient.connect` options;
 * - `connect` / `createServer`: the same for the bare `node:net` sockets of the load clients and
 *   of the thread-per-connection server.
 *
 * The certificate is made with the `openssl` command line (the one the TLS tests use); no npm
 * package is needed, and Node has no API that issues X.509 certificates.
 */
import { Context, Data, Effect } from "effect"
import { execFileSync } from "node:child_process"
import { X509Certificate } from "node:crypto"
import * as Fs from "node:fs"
import * as Net from "node:net"
import * as Os from "node:os"
import * as Path from "node:path"
import * as NodeTls from "node:tls"
import type * as Tls from "../../connection/Tls.js"

/** A key and the self-signed certificate of its public half, in PEM. */
export interface SelfSigned {
  readonly key: string
  readonly cert: string
  /** SHA-256 fingerprint of the certificate, colon-separated hex. */
  readonly fingerprint256: string
  /** The names it is valid for, e.g. `DNS:localhost, IP Address:127.0.0.1`. */
  readonly subjectAltName: string
}

/** The `openssl` command line is not on PATH (or failed to make the certificate). */
export class CertificateUnavailable extends Data.TaggedError("CertificateUnavailable")<{ readonly detail: string }> {
  override get message(): string {
    return this.detail
  }
}

/** The names the scenarios' certificate is valid for: where their clients connect. */
export const SCENARIO_NAMES = "DNS:localhost,IP:127.0.0.1"

/**
 * Makes a throw-away EC P-256 key and a self-signed certificate for `localhost` / 127.0.0.1, valid
 * for one day, with `openssl req -x509` in a temporary directory removed at once.
 */
export const selfSigned: Effect.Effect<SelfSigned, CertificateUnavailable> = Effect.try({
  try: () => {
    const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "effect-wire-tls-"))
    try {
      execFileSync("openssl", [
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        "key.pem",
        "-out",
        "cert.pem",
        "-days",
        "1",
        "-subj",
        "/CN=localhost",
        "-addext",
        `subjectAltName=${SCENARIO_NAMES}`
      ], { cwd: dir, stdio: ["ignore", "ignore", "pipe"], timeout: 20_000 })
      const key = Fs.readFileSync(Path.join(dir, "key.pem"), "utf8")
      const cert = Fs.readFileSync(Path.join(dir, "cert.pem"), "utf8")
      const x509 = new X509Certificate(cert)
      return { key, cert, fingerprint256: x509.fingerprint256, subjectAltName: x509.subjectAltName ?? "" }
    } finally {
      Fs.rmSync(dir, { recursive: true, force: true })
    }
  },
  catch: (e) => {
    const error = e as NodeJS.ErrnoException & { readonly stderr?: Buffer }
    return new CertificateUnavailable({
      detail: error.code === "ENOENT"
        ? "--tls makes a self-signed certificate with the openssl command line, and there is no openssl on PATH (install openssl)"
        : `--tls: openssl could not make a self-signed certificate: ${
          String(error.stderr ?? error.message).trim().split("\n")[0]
        }`
    })
  }
})

/** The shape of the `Wire` service. */
export interface WireShape {
  /** `TCP` or `TLS`, for what the scenarios print. */
  readonly name: "TCP" | "TLS"
  /** The certificate every server presents and every client trusts (TLS only). */
  readonly certificate: SelfSigned | undefined
  /** Spread into a server's options (`Server.make`, `echoServer`…). */
  readonly server: { readonly tls?: Tls.ServerOptions }
  /** Spread into a client's options (`Client.connect`, `RpcClient.connect`). */
  readonly client: { readonly tls?: Tls.ClientOptions }
  /** A bare socket to 127.0.0.1:`port`, and the event after which it carries the protocol's bytes. */
  readonly connect: (port: number) => { readonly socket: Net.Socket; readonly ready: "connect" | "secureConnect" }
  /** A bare server whose `listener` gets each connection once it carries the protocol's bytes. */
  readonly createServer: (listener: (socket: Net.Socket) => void) => Net.Server
}

/** Plain TCP. */
export const plain: WireShape = {
  name: "TCP",
  certificate: undefined,
  server: {},
  client: {},
  connect: (port) => ({ socket: Net.connect({ host: "127.0.0.1", port, noDelay: true }), ready: "connect" }),
  createServer: (listener) => Net.createServer(listener)
}

/** TLS: servers present `certificate`, clients trust exactly it (as their only CA). */
export const tls = (certificate: SelfSigned): WireShape => ({
  name: "TLS",
  certificate,
  server: { tls: { key: certificate.key, cert: certificate.cert } },
  client: { tls: { ca: certificate.cert } },
  connect: (port) => ({
    socket: NodeTls.connect({ host: "127.0.0.1", port, ca: certificate.cert }).setNoDelay(true),
    ready: "secureConnect"
  }),
  createServer: (listener) => NodeTls.createServer({ key: certificate.key, cert: certificate.cert }, listener)
})

/**
 * The wire the scenarios run on: plain TCP unless provided (`Effect.provideService(Wire,
 * tls(certificate))`).
 */
export class Wire
  extends Context.Reference<Wire>()("effect-wire/scenarios/Wire", { defaultValue: (): WireShape => plain })
{}
