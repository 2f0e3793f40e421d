/** Plain `node:net` peers for server tests: they script exactly what a remote client does. */
import { Effect } from "effect"
import { Buffer } from "node:buffer"
import * as Net from "node:net"
import * as Connection from "../../src/connection/Connection.js"
import * as Transport from "../../src/connection/Transport.js"

/** A raw client socket connected to 127.0.0.1:port, destroyed when the scope closes. */
export const rawConnect = (port: number, options: { allowHalfOpen?: boolean } = {}) =>
  Effect.acquireRelease(
    Effect.async<Net.Socket, Error>((resume) => {
      const socket = Net.connect({ host: "127.0.0.1", port, allowHalfOpen: options.allowHalfOpen ?? true })
      socket.once("connect", () => resume(Effect.succeed(socket)))
      socket.once("error", (e) => resume(Effect.fail(e)))
    }),
    (socket) => Effect.sync(() => socket.destroy())
  )

/** Everything the peer sends until it closes (FIN or reset), as UTF-8, and how it ended. */
export const readToEnd = (socket: Net.Socket) =>
  Effect.async<{ readonly text: string; readonly ended: "fin" | "reset" | "error" }>((resume) => {
    const parts: Array<Buffer> = []
    let done = false
    const finish = (ended: "fin" | "reset" | "error") => {
      if (done) return
      done = true
      resume(Effect.succeed({ text: Buffer.concat(parts).toString("utf8"), ended }))
    }
    socket.on("data", (d: Buffer) => parts.push(d))
    socket.once("end", () => finish("fin"))
    socket.once("error", (e: NodeJS.ErrnoException) => finish(e.code === "ECONNRESET" ? "reset" : "error"))
    socket.once("close", () => finish("fin"))
  })

/** Resolves once `count` `\n`-terminated lines have arrived on the socket; returns them. */
export const readLines = (socket: Net.Socket, count: number) =>
  Effect.async<Array<string>, Error>((resume) => {
    let text = ""
    const onData = (d: Buffer) => {
      text += d.toString("utf8")
      const lines = text.split("\n")
      if (lines.length - 1 >= count) {
        socket.off("data", onData)
        resume(Effect.succeed(lines.slice(0, count)))
      }
    }
    socket.on("data", onData)
    socket.once("close", () => resume(Effect.fail(new Error(`closed after ${text.split("\n").length - 1} lines`))))
  })

/** Attempts a connection and reports whether it was refused. */
export const connectOutcome = (port: number) =>
  Effect.async<"connected" | "refused" | "other">((resume) => {
    const socket = Net.connect({ host: "127.0.0.1", port })
    socket.once("connect", () => {
      socket.destroy()
      resume(Effect.succeed("connected"))
    })
    socket.once("error", (e: NodeJS.ErrnoException) =>
      resume(Effect.succeed(e.code === "ECONNREFUSED" ? "refused" : "other")))
  })

/**
 * A `Connection` with no socket, for scripting a handler's loop exactly: input goes in through
 * the inline reader the handler installs (`state.reader.push`); the "socket" records each write
 * and, once `blockOnWrite` is set, reports itself blocked after a write until `unblock()`. A
 * pending `pull` is resumed (with no chunks, as the driver does when `push` returns false) by
 * `state.wake`.
 */
export const scriptedConnection = (writeHighWaterMark: number) => {
  const state = {
    reader: undefined as Transport.InlineReader | undefined,
    blockOnWrite: false,
    blocked: false,
    writes: [] as Array<number>,
    /** Set while the handler waits for the socket to drain. */
    drained: undefined as (() => void) | undefined,
    wake: undefined as (() => void) | undefined
  }
  const connection = {
    config: Connection.config({ writeHighWaterMark }),
    isDraining: false,
    setInlineReader: (reader: Transport.InlineReader | undefined) => {
      state.reader = reader
    },
    writeNow: (bytes: Uint8Array) => {
      state.writes.push(bytes.length)
      if (state.blockOnWrite) state.blocked = true
      return undefined
    },
    writeBlocked: () => state.blocked,
    write: () =>
      state.blocked
        ? Effect.async<void>((resume) => {
          state.drained = () => resume(Effect.void)
        })
        : Effect.void,
    recheck: () => {},
    guard: <T, A>(self: T, f: (self: T, a: A) => void, a: A) => f(self, a),
    crashed: undefined,
    pull: () =>
      Effect.async<ReadonlyArray<Uint8Array>>((resume) => {
        state.wake = () => resume(Effect.succeed([]))
      }),
    // As the driver does: nothing to read until `wake`, which hands the loop back to its fiber.
    poll: () => {
      if (!woken) return undefined
      woken = false
      return []
    },
    waitInline: <A, E, R>(next: Effect.Effect<A, E, R>) =>
      Effect.flatMap(
        Effect.async<void>((resume) => {
          state.wake = () => {
            woken = true
            resume(Effect.void)
          }
        }),
        () => next
      ),
    [Transport.TypeId]: Transport.TypeId,
    [Connection.TypeId]: Connection.TypeId
  } as unknown as Transport.Transport
  let woken = false
  const unblock = () => {
    state.blocked = false
    state.blockOnWrite = false
    state.drained?.()
  }
  return { state, connection, unblock }
}
