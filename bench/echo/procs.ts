/**
 * Child processes of the bench: spawned through `bash` (to raise `ulimit -n`) and `taskset`
 * (to pin a core) when available, talking over IPC; the load generator also reports JSON lines
 * on stdout. Every wait has a timeout.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process"
import * as Path from "node:path"
import * as Readline from "node:readline"

const DEBUG = process.env["BENCH_DEBUG"] === "1"

export const ROOT = Path.resolve(import.meta.dirname, "../..")

export interface Environment {
  readonly taskset: boolean
  readonly cpus: number
  readonly nofileSoft: number
  readonly nofileHard: number
  readonly node: string
}

export const probeEnvironment = (cpus: number): Environment => {
  const ts = spawnSync("taskset", ["-c", "0", "true"], { stdio: "ignore" })
  const lim = spawnSync("bash", ["-c", "ulimit -Sn; ulimit -Hn"], { encoding: "utf8" })
  const [soft, hard] = (lim.stdout ?? "").trim().split(/\s+/).map((s) => (s === "unlimited" ? Infinity : Number(s)))
  return {
    taskset: ts.status === 0 && cpus >= 2,
    cpus,
    nofileSoft: soft ?? NaN,
    nofileHard: hard ?? NaN,
    node: process.version
  }
}

const quote = (s: string): string => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, "'\\''")}'`)

export interface SpawnOptions {
  readonly file: string
  readonly core: number | undefined
  readonly nodeArgs?: ReadonlyArray<string>
  readonly wantNofile: number
  readonly env?: Record<string, string>
}

type Waiter = {
  readonly match: (m: unknown) => boolean
  readonly resolve: (m: unknown) => void
  readonly reject: (e: Error) => void
  readonly timer: NodeJS.Timeout
}

/** A child process with an inbox of messages (IPC and stdout JSON lines alike). */
export class Proc {
  readonly proc: ChildProcess
  private readonly inbox: Array<unknown> = []
  private waiters: Array<Waiter> = []
  private exitCode: number | null | undefined = undefined
  private nextId = 1

  constructor(readonly label: string, options: SpawnOptions) {
    const taskset = options.core === undefined ? [] : ["taskset", "-c", String(options.core)]
    const cmd = [
      ...taskset,
      process.execPath,
      "--expose-gc",
      ...(options.nodeArgs ?? []),
      "--import",
      "tsx",
      Path.join(ROOT, options.file)
    ].map(quote).join(" ")
    const script = `ulimit -n ${options.wantNofile} 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null; ` +
      `export BENCH_NOFILE="$(ulimit -n)"; exec ${cmd}`
    this.proc = spawn("bash", ["-c", script], {
      cwd: ROOT,
      stdio: ["ignore", "pipe", "inherit", "ipc"],
      env: { ...process.env, ...options.env }
    })
    this.proc.on("message", (m) => this.deliver(m))
    Readline.createInterface({ input: this.proc.stdout! }).on("line", (line) => {
      if (!line.startsWith("{")) return void process.stderr.write(`[${label}] ${line}\n`)
      try {
        this.deliver(JSON.parse(line))
      } catch {
        process.stderr.write(`[${label}] ${line}\n`)
      }
    })
    this.proc.on("exit", (code) => {
      this.exitCode = code
      const ws = this.waiters
      this.waiters = []
      for (const w of ws) {
        clearTimeout(w.timer)
        w.reject(new Error(`${label} exited (code ${code}) while waiting`))
      }
    })
  }

  private deliver(m: unknown): void {
    if (DEBUG) process.stderr.write(`[${this.label} ->] ${JSON.stringify(m)}\n`)
    const i = this.waiters.findIndex((w) => w.match(m))
    if (i === -1) {
      this.inbox.push(m)
      return
    }
    const w = this.waiters[i]!
    this.waiters.splice(i, 1)
    clearTimeout(w.timer)
    w.resolve(m)
  }

  /** The first message (already received or to come) matching `match`. */
  waitFor<T>(match: (m: any) => boolean, timeoutMs: number, what: string): Promise<T> {
    const i = this.inbox.findIndex(match)
    if (i !== -1) return Promise.resolve(this.inbox.splice(i, 1)[0] as T)
    if (this.exitCode !== undefined) return Promise.reject(new Error(`${this.label} has exited`))
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w.timer !== timer)
        reject(new Error(`${this.label}: no ${what} within ${timeoutMs} ms`))
      }, timeoutMs)
      this.waiters.push({ match, resolve: resolve as (m: unknown) => void, reject, timer })
    })
  }

  send(message: object): void {
    if (DEBUG) process.stderr.write(`[-> ${this.label}] ${JSON.stringify(message)}\n`)
    if (this.proc.connected) this.proc.send(message)
  }

  /** Sends `{ ...message, id }` and waits for the reply with that id and `type`. */
  request<T>(
    message: { readonly type: string; readonly [k: string]: unknown },
    timeoutMs: number,
    replyType = message.type
  ): Promise<T> {
    const id = this.nextId++
    const p = this.waitFor<T>((m) => m?.type === replyType && m?.id === id, timeoutMs, `${message.type} reply`)
    this.send({ ...message, id })
    return p
  }

  get exited(): boolean {
    return this.exitCode !== undefined
  }

  /** Waits for the exit, killing the process (by its pid) if it is still there after `ms`. */
  async waitExit(ms: number): Promise<void> {
    if (this.exited) return
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.kill()
        resolve()
      }, ms)
      this.proc.once("exit", () => {
        clearTimeout(timer)
        resolve()
      })
    })
  }

  kill(): void {
    if (!this.exited && this.proc.pid !== undefined) {
      try {
        process.kill(this.proc.pid, "SIGKILL")
      } catch {
        // already gone
      }
    }
  }
}
