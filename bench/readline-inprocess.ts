/**
 * The chapter's `handle_echo` loop in Effect (`readLine`, then `write` twice) on a connection
 * driver with no socket: 16 lines delivered at once, as a pipelining peer sends them. What one
 * line costs in the driver and Effect alone, without the kernel and the load generator's noise.
 *
 * `npx tsx bench/readline-inprocess.ts`
 */
import { Clock, Effect } from "effect"
import { Buffer } from "node:buffer"
import * as Connection from "../src/connection/Connection.js"
import * as Transport from "../src/connection/Transport.js"

// A socket stand-in that keeps the driver's data listener, to deliver chunks as the socket would.
let onData: (chunk: Buffer) => void = () => {}
const fake: any = {
  setNoDelay() {},
  address() {
    return {}
  },
  on(event: string, f: (chunk: Buffer) => void) {
    if (event === "data") onData = f.bind(fake)
  },
  write() {
    return true
  },
  cork() {},
  uncork() {},
  writableLength: 0,
  destroyed: false,
  errored: null,
  remotePort: 1
}
const d = Transport.make(fake, Connection.config({ readHighWaterMark: 1 << 30 }), Clock.make())
const LINES = 16
const chunk = Buffer.from("msg\n".repeat(LINES))
const reply = Buffer.from("ECHO: msg")
const loop = Effect.gen(function*() {
  for (let i = 0; i < LINES; i++) {
    yield* d.readLine()
    yield* d.write(reply)
    yield* d.write("\n")
  }
})
const N = 20000
const run = () => {
  for (let i = 0; i < N; i++) {
    onData(chunk)
    Effect.runSync(loop)
  }
}
run()
run()
const t0 = performance.now()
run()
const dt = performance.now() - t0
console.log("ns per line (readLine + 2 writes):", ((dt / (N * LINES)) * 1e6).toFixed(0))
