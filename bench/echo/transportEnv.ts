/**
 * The transport a server child of `bench/transports.ts` serves, from its environment:
 * `BENCH_TRANSPORT=tls` with `BENCH_TLS_KEY_FILE` / `BENCH_TLS_CERT_FILE` (PEM files), or
 * `BENCH_TRANSPORT=unix` with `BENCH_UNIX_PATH` (the socket file, removed first if present), or
 * `BENCH_TRANSPORT=tcp` (plain TCP on 127.0.0.1, a reference for the other two).
 */
import * as Fs from "node:fs"

export type ServedTransport =
  | { readonly kind: "tls"; readonly key: string; readonly cert: string }
  | { readonly kind: "unix"; readonly path: string }
  | { readonly kind: "tcp" }

const need = (name: string): string => {
  const v = process.env[name]
  if (v === undefined || v === "") throw new Error(`server child: ${name} is not set`)
  return v
}

export const servedTransport = (): ServedTransport => {
  const kind = need("BENCH_TRANSPORT")
  if (kind === "tls") {
    return {
      kind,
      key: Fs.readFileSync(need("BENCH_TLS_KEY_FILE"), "utf8"),
      cert: Fs.readFileSync(need("BENCH_TLS_CERT_FILE"), "utf8")
    }
  }
  if (kind === "unix") return { kind, path: need("BENCH_UNIX_PATH") }
  if (kind === "tcp") return { kind }
  throw new Error(`server child: BENCH_TRANSPORT must be tls, unix or tcp, got ${kind}`)
}
