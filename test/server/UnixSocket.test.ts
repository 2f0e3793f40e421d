/**
 * Servers on Unix domain sockets: the same handlers; a dead server's socket file removed at
 * start, a live one or a file that is not a socket left alone; the file removed at shutdown.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { Buffer } from "node:buffer"
import { execFileSync } from "node:child_process"
import * as Fs from "node:fs"
import * as Net from "node:net"
import * as Os from "node:os"
import * as Path from "node:path"
import * as Framing from "../../src/protocol/Framing.js"
import * as Server from "../../src/server/Server.js"
import { readLines } from "./helpers.js"

const echo = Server.respond(Framing.lines(), (line) => Effect.succeed(Buffer.concat([Buffer.from("ECHO: "), line])))

/** A fresh directory for socket files, removed with the scope. */
const tempDir = Effect.acquireRelease(
  Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "effect-wire-unix-"))),
  (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
)

const unixConnect = (path: string) =>
  Effect.acquireRelease(
    Effect.async<Net.Socket, Error>((resume) => {
      const socket = Net.connect({ path })
      socket.once("connect", () => resume(Effect.succeed(socket)))
      socket.once("error", (e) => resume(Effect.fail(e)))
    }),
    (socket) => Effect.sync(() => socket.destroy())
  )

describe("Server on a Unix domain socket", () => {
  it.live("serves the same handler, reports its path, and removes the file at shutdown", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const path = Path.join(dir, "echo.sock")
      const server = yield* Server.make({ path }, echo)
      expect(server.address).toEqual({ host: path, port: 0, family: "unix" })
      const socket = yield* unixConnect(path)
      socket.write("a\nb\n")
      expect(yield* readLines(socket, 2)).toEqual(["ECHO: a", "ECHO: b"])
      yield* server.shutdown
      expect(Fs.existsSync(path)).toBe(false)
    }).pipe(Effect.scoped))

  it.live("removes the socket file a dead server left behind", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const path = Path.join(dir, "stale.sock")
      // Python binds and exits without removing the file: what a crashed server leaves.
      execFileSync("python3", [
        "-c",
        `import socket; s = socket.socket(socket.AF_UNIX); s.bind(${JSON.stringify(path)})`
      ])
      expect(Fs.lstatSync(path).isSocket()).toBe(true)
      const server = yield* Server.make({ path }, echo)
      const socket = yield* unixConnect(path)
      socket.write("again\n")
      expect(yield* readLines(socket, 1)).toEqual(["ECHO: again"])
      yield* server.shutdown
    }).pipe(Effect.scoped))

  it.live("refuses a path where a server answers, and leaves that server alone", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const path = Path.join(dir, "live.sock")
      yield* Server.make({ path }, echo)
      const error = yield* Effect.flip(Server.make({ path }, echo))
      expect(error).toMatchObject({ _tag: "ListenError", code: "EADDRINUSE" })
      expect(error.message).toContain(path)
      const socket = yield* unixConnect(path)
      socket.write("first\n")
      expect(yield* readLines(socket, 1)).toEqual(["ECHO: first"])
    }).pipe(Effect.scoped))

  it.live("never removes a file that is not a socket", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const path = Path.join(dir, "data.txt")
      Fs.writeFileSync(path, "precious")
      const error = yield* Effect.flip(Server.make({ path }, echo))
      expect(error).toMatchObject({ _tag: "ListenError", code: "EEXIST" })
      expect(Fs.readFileSync(path, "utf8")).toBe("precious")
    }).pipe(Effect.scoped))

  it.live("sets the socket file's permissions", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const path = Path.join(dir, "private.sock")
      yield* Server.make({ path, permissions: 0o600 }, echo)
      expect(Fs.statSync(path).mode & 0o777).toBe(0o600)
    }).pipe(Effect.scoped))
})
