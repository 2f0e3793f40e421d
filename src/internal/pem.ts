/** PEM text or DER bytes, as `Tls` options take them, in the form `node:tls` takes them. */
import type { Buffer } from "node:buffer"
import { asBuffer } from "./bytes.js"

/** What `Tls.Pem` is (kept structural here: this module sits below every layer). */
type Pem = string | Uint8Array | ReadonlyArray<string | Uint8Array>

export const toNodePem = (p: Pem | undefined): string | Buffer | Array<string | Buffer> | undefined => {
  if (p === undefined || typeof p === "string") return p
  if (p instanceof Uint8Array) return asBuffer(p)
  return p.map((x) => typeof x === "string" ? x : asBuffer(x))
}
