/**
 * The CLI's TLS files: read and checked before a server listens or a client connects, so that a
 * missing file, a file that is no certificate or key, or a key that is not the certificate's is
 * one line naming the flag and the file (bad usage), not a handshake that fails later.
 */
import { Data, Effect } from "effect"
import { createPrivateKey, type KeyObject, X509Certificate } from "node:crypto"
import * as Fs from "node:fs"
import type * as Tls from "../../connection/Tls.js"

/** A TLS flag's file cannot be read, or does not hold what the flag needs. */
export class BadTlsFile extends Data.TaggedError("BadTlsFile")<{ readonly detail: string }> {
  override get message(): string {
    return this.detail
  }
}

const WHY: Readonly<Record<string, string>> = {
  ENOENT: "no such file",
  EACCES: "permission denied",
  EISDIR: "it is a directory",
  ENOTDIR: "a part of the path is not a directory"
}

/** The text of `--flag FILE`. */
const read = (flag: string, file: string): Effect.Effect<string, BadTlsFile> =>
  Effect.try({
    try: () => Fs.readFileSync(file, "utf8"),
    catch: (e) => {
      const code = (e as NodeJS.ErrnoException).code
      return new BadTlsFile({
        detail: `cannot read --${flag} ${file}: ${(code !== undefined && WHY[code]) || String(e)}`
      })
    }
  })

/** The first certificate of `--flag FILE` (PEM), parsed. */
const certificateIn = (flag: string, file: string, text: string): Effect.Effect<X509Certificate, BadTlsFile> =>
  Effect.try({
    try: () => {
      if (!text.includes("-----BEGIN CERTIFICATE-----")) throw new Error("no PEM block")
      return new X509Certificate(text)
    },
    catch: () =>
      new BadTlsFile({ detail: `--${flag} ${file} is not a PEM certificate (expected -----BEGIN CERTIFICATE-----)` })
  })

/** The private key of `--flag FILE` (PEM, unencrypted), parsed. */
const keyIn = (flag: string, file: string, text: string): Effect.Effect<KeyObject, BadTlsFile> =>
  Effect.try({
    try: () => createPrivateKey(text),
    catch: (e) =>
      new BadTlsFile({
        detail: /passphrase/i.test(String(e))
          ? `--${flag} ${file} is an encrypted key: give an unencrypted one (openssl pkey -in ${file} -out plain.key)`
          : `--${flag} ${file} is not a PEM private key (expected -----BEGIN PRIVATE KEY-----)`
      })
  })

/** A certificate and its key, read and checked to belong together. */
export interface Identity {
  readonly cert: string
  readonly key: string
  readonly certificate: X509Certificate
}

/** Reads `--tls-cert` and `--tls-key` (flag names as given) and checks the key is the certificate's. */
export const identity = (
  files: { readonly cert: string; readonly key: string },
  flags: { readonly cert: string; readonly key: string } = { cert: "tls-cert", key: "tls-key" }
): Effect.Effect<Identity, BadTlsFile> =>
  Effect.gen(function*() {
    const cert = yield* read(flags.cert, files.cert)
    const key = yield* read(flags.key, files.key)
    const certificate = yield* certificateIn(flags.cert, files.cert, cert)
    const keyObject = yield* keyIn(flags.key, files.key, key)
    if (!certificate.checkPrivateKey(keyObject)) {
      return yield* new BadTlsFile({
        detail:
          `--${flags.key} ${files.key} does not match --${flags.cert} ${files.cert} (it is not that certificate's private key)`
      })
    }
    return { cert, key, certificate }
  })

/** Reads CA certificates (`--tls-ca FILE`): at least one PEM certificate. */
export const authorities = (file: string, flag = "tls-ca"): Effect.Effect<string, BadTlsFile> =>
  Effect.flatMap(read(flag, file), (text) => Effect.as(certificateIn(flag, file, text), text))

/** `CN=localhost, SHA-256 AB:CD:…`, what `serve` prints of its certificate. */
export const describe = (certificate: X509Certificate): string =>
  `certificate ${
    certificate.subject.split("\n").join(", ")
  } valid until ${certificate.validTo}, SHA-256 ${certificate.fingerprint256}`

/** The server's TLS options from the CLI's files. */
export const serverOptions = (
  id: Identity,
  ca: string | undefined,
  requireClientCert: boolean
): Tls.ServerOptions => ({
  key: id.key,
  cert: id.cert,
  ...(ca === undefined ? {} : { ca }),
  ...(requireClientCert ? { requestCert: true, rejectUnauthorized: true } : {})
})
