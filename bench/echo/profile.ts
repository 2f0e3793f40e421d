/**
 * Summarizes a V8 `.cpuprofile` (from `node --cpu-prof`): self time per function and per
 * origin (effect, effect-wire's `src/`, the bench, node internals, GC…), idle time left out.
 */
import { spawnSync } from "node:child_process"
import * as Path from "node:path"
import { ROOT } from "./procs.js"

interface CallFrame {
  readonly functionName: string
  readonly url: string
  readonly lineNumber: number
}
interface ProfileNode {
  readonly id: number
  readonly callFrame: CallFrame
}
export interface CpuProfile {
  readonly nodes: ReadonlyArray<ProfileNode>
  readonly samples: ReadonlyArray<number>
  readonly timeDeltas: ReadonlyArray<number>
}

export interface Row {
  readonly name: string
  readonly origin: string
  readonly selfMs: number
  readonly pct: number
}

const origin = (url: string, name: string, root: string, dist: string | undefined): string => {
  if (url === "") return name.startsWith("(") ? name : "native"
  if (url.includes("/node_modules/effect/")) return "effect"
  if (url.includes("/node_modules/")) return "node_modules"
  if (url.startsWith("node:")) return "node"
  const file = url.startsWith("file://") ? new URL(url).pathname : url
  if (dist !== undefined && Path.relative(dist, file).startsWith("src/")) return "effect-wire"
  const rel = Path.relative(root, file)
  if (rel.startsWith("src/")) return "effect-wire"
  if (rel.startsWith("bench/")) return "bench"
  return "other"
}

const where = (url: string, line: number, root: string): string => {
  if (url === "") return ""
  const file = url.startsWith("file://") ? new URL(url).pathname : url
  const rel = file.includes("/node_modules/")
    ? file.slice(file.lastIndexOf("/node_modules/") + 14)
    : Path.relative(root, file)
  return `${rel.startsWith("..") ? file : rel}:${line + 1}`
}

export const summarizeProfile = (
  profile: CpuProfile,
  root: string,
  dist: string | undefined,
  top = 30
): { readonly text: string; readonly rows: ReadonlyArray<Row>; readonly byOrigin: Record<string, number> } => {
  const byId = new Map<number, ProfileNode>()
  for (const n of profile.nodes) byId.set(n.id, n)
  const self = new Map<string, { name: string; origin: string; us: number }>()
  const byFile = new Map<string, number>()
  const byOrigin: Record<string, number> = {}
  let busy = 0
  for (let i = 0; i < profile.samples.length; i++) {
    const node = byId.get(profile.samples[i]!)
    if (node === undefined) continue
    const dt = profile.timeDeltas[i + 1] ?? profile.timeDeltas[i] ?? 0
    const { functionName, url, lineNumber } = node.callFrame
    if (functionName === "(idle)") continue
    busy += dt
    const o = origin(url, functionName, root, dist)
    byOrigin[o] = (byOrigin[o] ?? 0) + dt
    if (o === "effect" || o === "effect-wire") {
      const file = where(url, 0, root).replace(/:1$/, "")
      byFile.set(file, (byFile.get(file) ?? 0) + dt)
    }
    const name = `${functionName || "(anonymous)"} ${where(url, lineNumber, root)}`.trim()
    const key = `${o}|${name}`
    const entry = self.get(key) ?? { name, origin: o, us: 0 }
    entry.us += dt
    self.set(key, entry)
  }
  const rows = [...self.values()]
    .sort((a, b) => b.us - a.us)
    .map((e) => ({ name: e.name, origin: e.origin, selfMs: e.us / 1000, pct: busy > 0 ? (e.us / busy) * 100 : 0 }))
  const lines: Array<string> = []
  lines.push(`busy (non-idle) time ${(busy / 1000).toFixed(0)} ms; by origin:`)
  for (const [o, us] of Object.entries(byOrigin).sort((a, b) => b[1] - a[1])) {
    lines.push(
      `  ${o.padEnd(22)} ${(us / 1000).toFixed(0).padStart(7)} ms  ${((us / busy) * 100).toFixed(1).padStart(5)}%`
    )
  }
  lines.push("self time by file (effect / effect-wire):")
  for (const [f, us] of [...byFile].sort((a, b) => b[1] - a[1]).slice(0, 12)) {
    lines.push(`  ${((us / busy) * 100).toFixed(1).padStart(5)}%  ${(us / 1000).toFixed(0).padStart(6)} ms  ${f}`)
  }
  const show = (title: string, filter: (r: Row) => boolean) => {
    lines.push(title)
    for (const r of rows.filter(filter).slice(0, top)) {
      lines.push(
        `  ${r.pct.toFixed(2).padStart(6)}%  ${r.selfMs.toFixed(0).padStart(6)} ms  ${r.origin.padEnd(12)} ${r.name}`
      )
    }
  }
  show(`top ${top} self time, all:`, () => true)
  show(`top ${top} self time in effect / effect-wire:`, (r) => r.origin === "effect" || r.origin === "effect-wire")
  return { text: lines.join("\n"), rows, byOrigin }
}

/**
 * Builds the library (tsconfig.build.json) into `distDir` as plain JavaScript, so a profile names
 * real functions and lines; returns tsc's output (its errors, when the build fails).
 */
export const buildForProfile = (distDir: string): string =>
  spawnSync(
    process.execPath,
    [
      Path.join(ROOT, "node_modules/typescript/bin/tsc"),
      "-p",
      "tsconfig.build.json",
      "--outDir",
      distDir,
      "--declaration",
      "false",
      "--declarationMap",
      "false",
      "--sourceMap",
      "false"
    ],
    { cwd: ROOT, encoding: "utf8", timeout: 120_000 }
  ).stdout
