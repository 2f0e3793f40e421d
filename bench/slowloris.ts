/**
 * Slowloris timeouts under load: an effect-wire line echo (`frameReadTimeout` 2 s, the default
 * timer resolution) in a child process; this process opens N connections that send half a line
 * and stop, while one good client sends a request, waits for its echo, and sends the next.
 * Reports when the slow connections were closed (goal: within +10 %, 2.0-2.2 s) and the good
 * client's latency while they are (goal: p99 < 50 ms).
 *
 * `npm run bench:slowloris -- [--conns 500] [--runs 3]`. Loopback only; bounded (each run ends
 * 4 s after its slow connections are open).
 */
import { spawn } from "node:child_process"
import * as Net from "node:net"
import * as Path from "node:path"

const arg = (name: string, fallback: number): number => {
  const i = process.argv.indexOf(`--${name}`)
  return i === -1 ? fallback : Number(process.argv[i + 1])
}
const CONNS = arg("conns", 500)
const RUNS = arg("runs", 3)
const TIMEOUT_MS = 2_000

const startServer = () =>
  new Promise<{ port: number; kill: () => void }>((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", Path.join(import.meta.dirname, "slowloris/server.ts")], {
      stdio: ["ignore", "pipe", "inherit"]
    })
    let out = ""
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString()
      const m = /port (\d+)/.exec(out)
      if (m !== null) resolve({ port: Number(m[1]), kill: () => child.kill("SIGKILL") })
    })
    child.once("exit", (code) => reject(new Error(`server exited ${code}`)))
  })

const connect = (port: number) =>
  new Promise<Net.Socket>((resolve, reject) => {
    const s = Net.connect({ host: "127.0.0.1", port })
    s.once("connect", () => resolve(s))
    s.once("error", reject)
  })

const quantile = (sorted: ReadonlyArray<number>, q: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!

const run = async (round: number) => {
  const server = await startServer()
  // The good client first, so that its connection is not one of the slow ones.
  const good = await connect(server.port)
  const slow = await Promise.all(Array.from({ length: CONNS }, () => connect(server.port)))
  const closedAfter: Array<number> = []
  const start = performance.now()
  for (const s of slow) {
    s.on("error", () => {})
    s.once("close", () => closedAfter.push(performance.now() - start))
    s.write("half a li")
  }
  // Sequential requests until 4 s after the first byte; latencies kept with their start time.
  const latencies: Array<{ at: number; ms: number }> = []
  let pending: ((v: void) => void) | undefined
  good.on("data", () => pending?.())
  while (performance.now() - start < TIMEOUT_MS * 2) {
    const t0 = performance.now()
    await new Promise<void>((resolve) => {
      pending = resolve
      good.write("ping\n")
    })
    latencies.push({ at: t0 - start, ms: performance.now() - t0 })
  }
  server.kill()
  good.destroy()
  const closes = [...closedAfter].sort((a, b) => a - b)
  const late = closes.filter((t) => t > TIMEOUT_MS * 1.1).length
  const window = latencies.filter((l) => l.at > TIMEOUT_MS - 200 && l.at < TIMEOUT_MS * 1.25).map((l) => l.ms).sort((
    a,
    b
  ) => a - b)
  console.log(
    `run ${round}: ${closes.length}/${CONNS} closed, ` +
      `first ${(closes[0]! / 1000).toFixed(3)} s, median ${(quantile(closes, 0.5) / 1000).toFixed(3)} s, last ${
        (closes.at(-1)! / 1000).toFixed(3)
      } s, ` +
      `${late} after +10 % (2.2 s); good client during the closes: ${window.length} requests, ` +
      `p50 ${quantile(window, 0.5).toFixed(2)} ms, p99 ${quantile(window, 0.99).toFixed(2)} ms, max ${
        window.at(-1)!.toFixed(2)
      } ms`
  )
}

for (let i = 1; i <= RUNS; i++) await run(i)
