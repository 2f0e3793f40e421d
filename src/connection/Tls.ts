/**
 * TLS for servers and clients, on `node:tls`: the options a server (`Server.make({ tls })`) and a
 * client (`Client.connect({ tls })`) take, what a connection tells of its TLS session
 * (`connection.tls`, asyncio's `get_extra_info("peercert")` in typed form), and the error of a
 * failed handshake, with OpenSSL's code and a one-line hint.
 *
 * Over TLS every codec, `Server.respond`, `RpcServer`, `Client` and `RpcClient` work unchanged:
 * the connection reads and writes the session's plaintext.
 *
 * @since 0.1.0
 */
import { Data, type Duration } from "effect"
import type * as NodeTls from "node:tls"

/**
 * PEM text or DER bytes: what `node:tls` takes for keys, certificates and CAs.
 *
 * @since 0.1.0
 * @category models
 */
export type Pem = string | Uint8Array | ReadonlyArray<string | Uint8Array>

/**
 * The key and certificate a server presents for one host name (see `ServerOptions.hosts`).
 *
 * @since 0.1.0
 * @category models
 */
export interface Identity {
  readonly key: Pem
  readonly cert: Pem
  /** The chain's intermediate or root CAs, if the client needs them. */
  readonly ca?: Pem
  /** The key's passphrase. */
  readonly passphrase?: string
}

/**
 * TLS options of a server.
 *
 * @since 0.1.0
 * @category models
 */
export interface ServerOptions extends Identity {
  /**
   * Ask clients for a certificate (mutual TLS), verified against `ca`. Default false.
   */
  readonly requestCert?: boolean
  /**
   * With `requestCert`: refuse a client whose certificate does not verify (default true), or let
   * it in and tell the handler through `connection.tls.authorized`.
   */
  readonly rejectUnauthorized?: boolean
  /** ALPN protocols offered, in order of preference (e.g. `["h2", "my-proto/1"]`). */
  readonly alpnProtocols?: ReadonlyArray<string>
  /**
   * Other identities by SNI host name (`"api.example.com"`, `"*.example.com"`): a client asking
   * for one of them gets its certificate, any other the default (`key` / `cert`).
   */
  readonly hosts?: Readonly<Record<string, Identity>>
  /**
   * How long a client may take to complete the handshake after connecting. Default 10 s. A peer
   * that opens TCP and never finishes is closed and counted (`stats.tlsFailures`), like a
   * slowloris peer.
   */
  readonly handshakeTimeout?: Duration.DurationInput
  /** The oldest TLS version accepted. Default `TLSv1.2`. */
  readonly minVersion?: "TLSv1.2" | "TLSv1.3"
}

/**
 * TLS options of a client (`true`: the defaults, i.e. the system's CAs, the host as server name).
 *
 * @since 0.1.0
 * @category models
 */
export interface ClientOptions {
  /** CAs to trust instead of the system's (e.g. a test or company CA). */
  readonly ca?: Pem
  /** Server name for SNI and the certificate check. Default: `host` (none for an IP address). */
  readonly servername?: string
  /** A client certificate and key, for servers that ask for one (mutual TLS). */
  readonly cert?: Pem
  readonly key?: Pem
  readonly passphrase?: string
  /**
   * Whether to refuse a server whose certificate does not verify. Default true; false is for
   * tests (`--insecure` on the CLI): the connection is then encrypted but not authenticated.
   */
  readonly rejectUnauthorized?: boolean
  /**
   * Checks the server's certificate against the host name beyond the chain's verification: return
   * an `Error` to refuse it. Default `node:tls`'s `checkServerIdentity`.
   */
  readonly checkServerIdentity?: (host: string, cert: NodeTls.PeerCertificate) => Error | undefined
  /** ALPN protocols offered, in order of preference. */
  readonly alpnProtocols?: ReadonlyArray<string>
  readonly minVersion?: "TLSv1.2" | "TLSv1.3"
}

/**
 * A peer's certificate, as a connection reports it.
 *
 * @since 0.1.0
 * @category models
 */
export interface PeerCertificate {
  /** Subject fields (`CN`, `O`…). */
  readonly subject: Readonly<Record<string, string>>
  readonly issuer: Readonly<Record<string, string>>
  /** e.g. `DNS:localhost, IP Address:127.0.0.1`. */
  readonly subjectAltName: string | undefined
  /** SHA-256 fingerprint, colon-separated hex. */
  readonly fingerprint256: string
  readonly serialNumber: string
  readonly validFrom: string
  readonly validTo: string
}

/**
 * What a connection tells of its TLS session (`connection.tls`; `undefined` over plain TCP).
 *
 * @since 0.1.0
 * @category models
 */
export interface Info {
  /** Whether the peer's certificate verified against the trusted CAs. */
  readonly authorized: boolean
  /** Why it did not (`CERT_HAS_EXPIRED`, `DEPTH_ZERO_SELF_SIGNED_CERT`…). */
  readonly authorizationError: string | undefined
  /** The peer's certificate (a server's clients send none unless asked: `requestCert`). */
  readonly peerCertificate: PeerCertificate | undefined
  /** The protocol agreed by ALPN, if any. */
  readonly alpnProtocol: string | undefined
  /** e.g. `TLSv1.3`. */
  readonly version: string | undefined
  /** e.g. `TLS_AES_256_GCM_SHA384`. */
  readonly cipher: string | undefined
  /** The SNI name the client asked for (server side). */
  readonly servername: string | undefined
}

/**
 * The mark of a `TlsError`.
 *
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: unique symbol = Symbol.for("effect-wire/TlsError")

/**
 * @since 0.1.0
 * @category type ids
 */
export type TypeId = typeof TypeId

/**
 * A handshake that failed: the certificate did not verify, the host name did not match, the
 * peer spoke no TLS or no common version, or the handshake timed out. `code` is OpenSSL's (or
 * Node's) code; the message ends with a hint for the common ones.
 *
 * @since 0.1.0
 * @category errors
 */
export class TlsError extends Data.TaggedError("TlsError")<{
  /** Which end saw the failure. */
  readonly side: "client" | "server"
  /** The peer, `host:port`. */
  readonly peer: string
  readonly code: string | undefined
  readonly detail: string
}> {
  /**
   * @since 0.1.0
   */
  readonly [TypeId]: TypeId = TypeId
  override get message(): string {
    const h = hint(this.code)
    return `TLS handshake with ${this.peer} failed${this.code === undefined ? "" : ` (${this.code})`}: ${this.detail}${
      h === undefined ? "" : ` (${h})`
    }`
  }
}

/**
 * Whether `u` is a `TlsError`.
 *
 * @since 0.1.0
 * @category guards
 */
export const isTlsError = (u: unknown): u is TlsError =>
  typeof u === "object" && u !== null && (u as { readonly [TypeId]?: unknown })[TypeId] === TypeId

const HINTS: Readonly<Record<string, string>> = {
  CERT_HAS_EXPIRED: "the certificate has expired: renew it, or check the clock",
  CERT_NOT_YET_VALID: "the certificate is not valid yet: check the clock",
  DEPTH_ZERO_SELF_SIGNED_CERT: "the certificate is self-signed: trust it with `ca` (--tls-ca)",
  SELF_SIGNED_CERT_IN_CHAIN: "the chain ends in an untrusted root: trust it with `ca` (--tls-ca)",
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: "the issuer is not trusted: add its CA with `ca` (--tls-ca)",
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: "the issuer is not trusted: add its CA with `ca` (--tls-ca)",
  ERR_TLS_CERT_ALTNAME_INVALID: "the certificate is for another host name: check the host or `servername`",
  ERR_SSL_WRONG_VERSION_NUMBER: "is the server speaking plain TCP?",
  ERR_SSL_PACKET_LENGTH_TOO_LONG: "is the server speaking plain TCP?",
  ERR_SSL_HTTP_REQUEST: "the peer spoke plain HTTP to a TLS port",
  ERR_TLS_HANDSHAKE_TIMEOUT: "the peer did not finish the handshake in time",
  ERR_SSL_UNSUPPORTED_PROTOCOL: "no TLS version in common: check `minVersion`",
  ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION: "no TLS version in common: check `minVersion`",
  ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE: "the peer refused our certificate",
  ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED: "the server wants a client certificate (`cert` / `key`)",
  ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE: "the client sent no certificate, and this server asks for one",
  ERR_SSL_TLSV1_ALERT_UNKNOWN_CA: "the peer does not trust our certificate's CA",
  ECONNRESET: "the peer closed during the handshake: does it speak TLS, and trust us?"
}

/**
 * The reason in an OpenSSL error message (`…:SSL routines:ssl3_get_record:wrong version number:…`
 * → `wrong version number`); other messages as they are.
 *
 * @since 0.1.0
 * @category utils
 */
export const reason = (message: string): string => {
  const m = /SSL routines:[^:]*:([^:]+)/.exec(message)
  return m === null ? message : m[1]!
}

/**
 * A one-line hint for a TLS failure's code (`undefined` for codes without one).
 *
 * @since 0.1.0
 * @category utils
 */
export const hint = (code: string | undefined): string | undefined => code === undefined ? undefined : HINTS[code]
