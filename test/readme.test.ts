/**
 * The README's examples, compiled and run, so the README stays true: every ```ts block is a
 * whole program. They are type-checked together (strict, as this package is), then each runs in
 * its own process (`node --import tsx`) in a directory holding throw-away certificates
 * (`ca.crt`, `server.key`/`.crt`, `client.key`/`.crt`, made by openssl) and must exit 0.
 *
 * - A ```text block right after a program, whose first line is `Output:`, is what that program
 *   must print (lines compared after trimming trailing spaces).
 * - `<!-- run: interrupt -->` before a block marks a program that runs until stopped (a server
 *   under `NodeRuntime.runMain`): it gets SIGINT once it has printed a line, and must exit 0
 *   after its graceful shutdown.
 * - `<!-- run: no -->` marks a block that is only type-checked (one that needs another machine).
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { spawn, spawnSync } from "node:child_process"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { type Certs, makeCerts, removeCerts } from "./connection/certs.js"

const ROOT = Path.resolve(import.meta.dirname, "..")

interface Block {
  readonly index: number
  /** The README line the code starts on. */
  readonly line: number
  readonly code: string
  readonly run: "yes" | "interrupt" | "no"
  readonly output: string | undefined
}

/** The ```ts blocks of the README, with their run mode and expected output. */
const blocks = (markdown: string): ReadonlyArray<Block> => {
  const lines = markdown.split("\n")
  const out: Array<Block> = []
  for (let i = 0; i < lines.length; i++) {
    if (lines[i]!.trim() !== "```ts") continue
    const start = i + 1
    let end = start
    while (end < lines.length && lines[end]!.trim() !== "```") end++
    let prev = i - 1
    while (prev >= 0 && lines[prev]!.trim() === "") prev--
    const mark = lines[prev]?.match(/^<!-- run: (interrupt|no) -->$/)
    // An `Output:` text block right after (blank lines between allowed).
    let next = end + 1
    while (next < lines.length && lines[next]!.trim() === "") next++
    let output: string | undefined = undefined
    if (lines[next]?.trim() === "```text" && lines[next + 1]?.trim() === "Output:") {
      let stop = next + 2
      while (stop < lines.length && lines[stop]!.trim() !== "```") stop++
      output = lines.slice(next + 2, stop).join("\n")
    }
    out.push({
      index: out.length,
      line: start + 1,
      code: lines.slice(start, end).join("\n"),
      run: mark === null || mark === undefined ? "yes" : mark[1] as "interrupt" | "no",
      output
    })
    i = end
  }
  return out
}

const normalize = (text: string): string => text.split("\n").map((l) => l.trimEnd()).join("\n").trim()

const README = Fs.readFileSync(Path.join(ROOT, "README.md"), "utf8")
const BLOCKS = blocks(README)
let dir: string
let certs: Certs

beforeAll(() => {
  certs = makeCerts()
  dir = certs.dir
  for (const name of ["ca", "server", "client"]) {
    for (const ext of ["key", "crt"]) {
      const from = Path.join(dir, `${name}.${ext}`)
      if (!Fs.existsSync(from)) throw new Error(`missing ${from}`)
    }
  }
  const entry = (name: string) => JSON.stringify(Path.join(ROOT, "src", `${name}.js`))
  for (const b of BLOCKS) {
    // The package's entry points resolve to this checkout's sources.
    const code = b.code
      .replaceAll(`from "effect-wire"`, `from ${entry("index")}`)
      .replaceAll(`from "effect-wire/platform"`, `from ${entry("platform")}`)
    Fs.writeFileSync(Path.join(dir, `block${b.index}.ts`), code)
  }
  const base = JSON.parse(Fs.readFileSync(Path.join(ROOT, "tsconfig.json"), "utf8")) as {
    compilerOptions: Record<string, unknown>
  }
  Fs.writeFileSync(
    Path.join(dir, "tsconfig.json"),
    JSON.stringify({
      compilerOptions: {
        ...base.compilerOptions,
        noEmit: true,
        rootDir: "/",
        typeRoots: [Path.join(ROOT, "node_modules", "@types")],
        // Examples may leave a name unused, as a user's first program does.
        noUnusedLocals: false,
        noUnusedParameters: false
      },
      include: BLOCKS.map((b) => `block${b.index}.ts`)
    })
  )
  Fs.writeFileSync(Path.join(dir, "package.json"), JSON.stringify({ type: "module", private: true }))
  // Bare imports ("effect", "@effect/platform-node") resolve from this checkout's node_modules.
  Fs.symlinkSync(Path.join(ROOT, "node_modules"), Path.join(dir, "node_modules"))
})
afterAll(() => removeCerts(certs))

/** Runs a block; `interrupt`: SIGINT once it has printed a line. */
const run = (b: Block) =>
  new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, ["--import", "tsx", `block${b.index}.ts`], {
      cwd: dir,
      env: { ...process.env, NO_COLOR: "1" },
      stdio: ["ignore", "pipe", "pipe"]
    })
    let stdout = ""
    let stderr = ""
    let signalled = false
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString("utf8")
      if (b.run === "interrupt" && !signalled && stdout.includes("\n")) {
        signalled = true
        child.kill("SIGINT")
      }
    })
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString("utf8")))
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000)
    child.on("close", (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
  })

describe("README", () => {
  it("has examples, and every one type-checks", () => {
    expect(BLOCKS.length).toBeGreaterThan(10)
    const tsc = spawnSync(process.execPath, [Path.join(ROOT, "node_modules", "typescript", "bin", "tsc"), "-p", dir], {
      encoding: "utf8"
    })
    // Name the README line of each error, not the temporary file's.
    const report = (tsc.stdout + tsc.stderr).replace(
      /\S*block(\d+)\.ts\((\d+),(\d+)\)/g,
      (_, i, l, c) => `README.md:${BLOCKS[Number(i)]!.line + Number(l) - 1}:${c}`
    )
    expect(report).toBe("")
    expect(tsc.status).toBe(0)
  }, 240_000)

  for (const b of BLOCKS.filter((b) => b.run !== "no")) {
    const first = b.code.split("\n").find((l) => l.startsWith("//"))?.slice(2).trim()
    it(`the example at README.md:${b.line}${first === undefined ? "" : ` (${first})`} runs`, async () => {
      const result = await run(b)
      expect(result.code, result.stderr).toBe(0)
      if (b.output !== undefined) expect(normalize(result.stdout)).toBe(normalize(b.output))
    }, 120_000)
  }
})
