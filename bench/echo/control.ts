/**
 * The control side shared by both server children: answers the driver's IPC commands with CPU
 * marks (`process.cpuUsage()` and the request counter, read at the same instant), memory
 * readings (after a forced GC) and stops. The child exits when the driver goes away or after a
 * maximum lifetime, so no server outlives the bench.
 */
import * as Fs from "node:fs"
import * as Inspector from "node:inspector"
import * as V8 from "node:v8"
import type { ServerCommand, ServerReply } from "./protocol.js"

/** Requests answered by this server (incremented by the handler, the same way in both servers). */
export const counters = { frames: 0 }

const MAX_LIFETIME_MS = Number(process.env["BENCH_MAX_LIFETIME_MS"] ?? 15 * 60_000)

const reply = (m: ServerReply): void => {
  process.send?.(m)
}

const collect = async (): Promise<void> => {
  const gc = (globalThis as { gc?: () => void }).gc
  for (let i = 0; i < 3; i++) {
    gc?.()
    await new Promise((r) => setImmediate(r))
  }
}

// CPU profiling of a window, driven by the bench (`--profile`): main thread only.
let session: Inspector.Session | undefined = undefined
const post = (method: string, params?: object): Promise<any> =>
  new Promise((resolve, reject) =>
    session!.post(method, params ?? {}, (err, result) => (err ? reject(err) : resolve(result)))
  )
const profStart = async (): Promise<void> => {
  if (session === undefined) {
    session = new Inspector.Session()
    session.connect()
    await post("Profiler.enable")
    await post("Profiler.setSamplingInterval", { interval: 100 })
  }
  await post("Profiler.start")
}
const profStop = async (file: string): Promise<void> => {
  const { profile } = await post("Profiler.stop")
  Fs.writeFileSync(file, JSON.stringify(profile))
}

export interface Controlled {
  readonly name: string
  readonly port: number
  /** Connections open now. */
  readonly active: () => number
  /** Stops the server (bounded by the caller). */
  readonly stop: () => Promise<void>
}

export const serveControl = (server: Controlled): void => {
  if (process.send === undefined) throw new Error("a server child must be spawned with an IPC channel")
  process.on("message", (raw: unknown) => {
    const cmd = raw as ServerCommand
    switch (cmd.type) {
      case "mark": {
        const cpu = process.cpuUsage()
        reply({
          type: "mark",
          id: cmd.id,
          user: cpu.user,
          system: cpu.system,
          frames: counters.frames,
          atMs: Number(process.hrtime.bigint()) / 1e6,
          active: server.active()
        })
        return
      }
      case "mem": {
        void collect().then(() => {
          const m = process.memoryUsage()
          reply({
            type: "mem",
            id: cmd.id,
            rss: m.rss,
            heapUsed: m.heapUsed,
            heapTotal: m.heapTotal,
            external: m.external,
            arrayBuffers: m.arrayBuffers,
            active: server.active()
          })
        })
        return
      }
      case "prof-start": {
        void profStart().then(() => reply({ type: "prof-start", id: cmd.id }))
        return
      }
      case "prof-stop": {
        void profStop(cmd.file).then(
          () => reply({ type: "prof-stop", id: cmd.id, file: cmd.file }),
          (e) => reply({ type: "prof-stop", id: cmd.id, file: cmd.file, error: String(e) })
        )
        return
      }
      case "heap-snapshot": {
        void collect().then(() => {
          V8.writeHeapSnapshot(cmd.file)
          reply({ type: "heap-snapshot", id: cmd.id, file: cmd.file })
        })
        return
      }
      case "stop": {
        const bail = setTimeout(() => process.exit(0), 5_000)
        void server.stop().finally(() => {
          clearTimeout(bail)
          reply({ type: "stopped", id: cmd.id })
          setTimeout(() => process.exit(0), 50)
        })
        return
      }
    }
  })
  process.on("disconnect", () => process.exit(0))
  setTimeout(() => process.exit(2), MAX_LIFETIME_MS).unref()
  reply({ type: "ready", name: server.name, port: server.port, pid: process.pid, nofile: process.env["BENCH_NOFILE"] })
}
