/**
 * Throw-away certificates for the TLS tests, made at test time with the `openssl` command line:
 * a CA, a server certificate for `localhost` / 127.0.0.1, a client certificate (mutual TLS), an
 * expired server certificate, one for another host, a self-signed one, and a second CA with its
 * own server certificate (for reloads).
 */
import { execFileSync } from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"

export interface Pair {
  readonly key: string
  readonly cert: string
}

export interface Certs {
  readonly dir: string
  readonly ca: string
  readonly server: Pair
  readonly client: Pair
  readonly expired: Pair
  readonly wrongHost: Pair
  readonly selfSigned: Pair
  /** A second CA and a server certificate it signed. */
  readonly ca2: string
  readonly server2: Pair
}

const openssl = (dir: string, args: ReadonlyArray<string>): void => {
  execFileSync("openssl", args, { cwd: dir, stdio: ["ignore", "ignore", "pipe"] })
}

const newKey = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]

const makeCa = (dir: string, name: string): void =>
  openssl(dir, [
    "req",
    "-x509",
    ...newKey,
    "-keyout",
    `${name}.key`,
    "-out",
    `${name}.crt`,
    "-subj",
    `/CN=${name} test CA`,
    "-days",
    "2"
  ])

/** A leaf signed by `ca`, valid for `days` (-1: expired yesterday), for the names in `san`. */
const makeLeaf = (
  dir: string,
  ca: string,
  name: string,
  cn: string,
  san: string,
  days: number,
  usage: string
): void => {
  openssl(dir, ["req", ...newKey, "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", `/CN=${cn}`])
  Fs.writeFileSync(Path.join(dir, `${name}.ext`), `subjectAltName=${san}\nextendedKeyUsage=${usage}\n`)
  openssl(dir, [
    "x509",
    "-req",
    "-in",
    `${name}.csr`,
    "-CA",
    `${ca}.crt`,
    "-CAkey",
    `${ca}.key`,
    "-CAcreateserial",
    "-out",
    `${name}.crt`,
    "-days",
    String(days),
    "-extfile",
    `${name}.ext`
  ])
}

const read = (dir: string, name: string): Pair => ({
  key: Fs.readFileSync(Path.join(dir, `${name}.key`), "utf8"),
  cert: Fs.readFileSync(Path.join(dir, `${name}.crt`), "utf8")
})

/** Makes a fresh set in a temporary directory (removed by `remove`). */
export const makeCerts = (): Certs => {
  const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "effect-wire-certs-"))
  makeCa(dir, "ca")
  makeCa(dir, "ca2")
  const local = "DNS:localhost,IP:127.0.0.1"
  makeLeaf(dir, "ca", "server", "localhost", local, 2, "serverAuth")
  makeLeaf(dir, "ca", "client", "test client", "DNS:client.test", 2, "clientAuth")
  makeLeaf(dir, "ca", "expired", "localhost", local, -1, "serverAuth")
  makeLeaf(dir, "ca", "wronghost", "elsewhere.test", "DNS:elsewhere.test", 2, "serverAuth")
  makeLeaf(dir, "ca2", "server2", "localhost", local, 2, "serverAuth")
  openssl(dir, [
    "req",
    "-x509",
    ...newKey,
    "-keyout",
    "self.key",
    "-out",
    "self.crt",
    "-subj",
    "/CN=localhost",
    "-days",
    "2",
    "-addext",
    `subjectAltName=${local}`
  ])
  return {
    dir,
    ca: Fs.readFileSync(Path.join(dir, "ca.crt"), "utf8"),
    ca2: Fs.readFileSync(Path.join(dir, "ca2.crt"), "utf8"),
    server: read(dir, "server"),
    client: read(dir, "client"),
    expired: read(dir, "expired"),
    wrongHost: read(dir, "wronghost"),
    selfSigned: read(dir, "self"),
    server2: read(dir, "server2")
  }
}

export const removeCerts = (certs: Certs): void => Fs.rmSync(certs.dir, { recursive: true, force: true })
