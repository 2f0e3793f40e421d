/** What a TLS socket tells of its session, as `Tls.Info` (read on each use: it is rarely asked). */
import * as NodeTls from "node:tls"
import type { Info, PeerCertificate } from "../Tls.js"

const fields = (o: object | undefined): Record<string, string> => {
  const out: Record<string, string> = {}
  if (o === undefined) return out
  for (const [k, v] of Object.entries(o)) out[k] = Array.isArray(v) ? v.join(", ") : String(v)
  return out
}

const certificate = (c: NodeTls.PeerCertificate | Record<string, never>): PeerCertificate | undefined => {
  if (!("fingerprint256" in c) || c.fingerprint256 === undefined) return undefined
  return {
    subject: fields(c.subject),
    issuer: fields(c.issuer),
    subjectAltName: c.subjectaltname,
    fingerprint256: c.fingerprint256,
    serialNumber: c.serialNumber,
    validFrom: c.valid_from,
    validTo: c.valid_to
  }
}

export const tlsInfo = (socket: object): Info | undefined => {
  if (!(socket instanceof NodeTls.TLSSocket)) return undefined
  const error = socket.authorizationError as unknown
  const alpn = socket.alpnProtocol
  return {
    authorized: socket.authorized,
    authorizationError: error === null || error === undefined ? undefined : String((error as Error).message ?? error),
    peerCertificate: certificate(socket.getPeerCertificate()),
    alpnProtocol: typeof alpn === "string" ? alpn : undefined,
    version: socket.getProtocol() ?? undefined,
    cipher: socket.getCipher()?.name,
    servername: typeof (socket as { servername?: unknown }).servername === "string"
      ? (socket as unknown as { servername: string }).servername
      : undefined
  }
}
