/**
 * The CLI's flags, declared once: each declaration parses and checks its value, builds the
 * `@effect/cli` option the command handlers receive, and feeds both the argv check that runs
 * before `@effect/cli` parses (so that every bad flag is one line naming the flag, the value and
 * what is allowed) and the help text (wrapped to 100 columns, with every default).
 *
 * `@effect/cli` alone cannot do either: its parse errors do not name the flag (`'abc' is not a
 * integer`), say `Received unknown argument: '--port'` for a flag given twice or without a value,
 * and its help puts each command's whole usage on one line of a table and prints ANSI codes
 * whatever the terminal (`HelpDoc.toAnsiText`, written with `Console.log`).
 */
import { HelpDoc, Options, ValidationError } from "@effect/cli"
import type { Option } from "effect"
import { Effect } from "effect"

/** The largest count, size or duration (in ms) the library's options accept: 2^31 - 1. */
export const MAX_INT = 2 ** 31 - 1

/** A flag that takes a value: how to parse it and what to say about it. */
export interface ValueFlag<A> {
  readonly _tag: "Value"
  /** Without the dashes: `port`. */
  readonly name: string
  /** The placeholder in help: `PORT`, `DURATION`. */
  readonly metavar: string
  readonly help: string
  /** What is allowed, for errors and help: `an integer from 0 to 65535`. */
  readonly expected: string
  /** The value, or undefined when `raw` is not allowed. */
  readonly parse: (raw: string) => A | undefined
  /** The default as typed on the command line (parsed with `parse`), if any. */
  readonly default?: string
  /** What help says when there is no single default (`64KiB for lines, 1MiB otherwise`). */
  readonly defaultText?: string
  /** Whether help appends `expected` to `help` (ranges: yes; durations and sizes are explained once). */
  readonly showExpected?: boolean
}

/** A flag without a value (`--quiet`). */
export interface SwitchFlag {
  readonly _tag: "Switch"
  readonly name: string
  readonly help: string
}

export type Flag = ValueFlag<unknown> | SwitchFlag

// ---- parsers ----------------------------------------------------------------------------------

const INTEGER = /^[0-9]+$/

/** An integer flag in `[min, max]`. */
export const integer = (
  name: string,
  options: {
    readonly min: number
    readonly max?: number
    readonly metavar?: string
    readonly help: string
    readonly default?: string
  }
): ValueFlag<number> => {
  const max = options.max ?? MAX_INT
  return {
    _tag: "Value",
    name,
    metavar: options.metavar ?? "N",
    help: options.help,
    expected: `an integer from ${options.min} to ${max}`,
    showExpected: true,
    parse: (raw) => {
      if (!INTEGER.test(raw)) return undefined
      const n = Number(raw)
      return n >= options.min && n <= max ? n : undefined
    },
    ...(options.default === undefined ? {} : { default: options.default })
  }
}

/** A TCP port: 0 (a free one, for listening) or 1 to 65535. */
export const port = (
  options: { readonly min: 0 | 1; readonly help: string; readonly default?: string }
): ValueFlag<number> => integer("port", { ...options, max: 65_535, metavar: "PORT" })

const SIZE = /^([0-9]+)(b|k|kib|m|mib|g|gib)?$/i
const SIZE_UNITS: Record<string, number> = {
  "": 1,
  b: 1,
  k: 1024,
  kib: 1024,
  m: 1_048_576,
  mib: 1_048_576,
  g: 1_073_741_824,
  gib: 1_073_741_824
}

/** Parses `65536`, `64KiB`, `64k`, `1MiB`, `1m` (binary units) into bytes, or undefined. */
export const parseSize = (raw: string): number | undefined => {
  const m = SIZE.exec(raw.trim())
  if (m === null) return undefined
  return Number(m[1]) * SIZE_UNITS[(m[2] ?? "").toLowerCase()]!
}

/** `1MiB`, `64KiB` or a number of bytes. */
export const formatSize = (bytes: number): string =>
  bytes > 0 && bytes % 1_048_576 === 0
    ? `${bytes / 1_048_576}MiB`
    : bytes > 0 && bytes % 1024 === 0
    ? `${bytes / 1024}KiB`
    : `${bytes}`

/** A size in bytes from 1 to 2^31 - 1. */
export const size = (
  name: string,
  options: { readonly help: string; readonly default?: string; readonly defaultText?: string }
): ValueFlag<number> => ({
  _tag: "Value",
  name,
  metavar: "SIZE",
  help: options.help,
  expected: `a size from 1 byte to ${MAX_INT} bytes: a number of bytes, or with KiB or MiB (64KiB, 1MiB)`,
  parse: (raw) => {
    const n = parseSize(raw)
    return n !== undefined && n >= 1 && n <= MAX_INT ? n : undefined
  },
  ...(options.default === undefined ? {} : { default: options.default }),
  ...(options.defaultText === undefined ? {} : { defaultText: options.defaultText })
})

const DURATION = /^([0-9]+(?:\.[0-9]+)?)\s*(ms|s|m|h)?$/
const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }

/** Parses `500ms`, `30s`, `1.5s`, `5m`, `1h` or a bare number of seconds into milliseconds (rounded up). */
export const parseDuration = (raw: string): number | undefined => {
  const m = DURATION.exec(raw.trim())
  if (m === null) return undefined
  return Math.ceil(Number(m[1]) * DURATION_UNITS[m[2] ?? "s"]!)
}

/** `5m`, `30s`, `250ms`: the largest unit that divides it. */
export const formatDuration = (millis: number): string =>
  millis > 0 && millis % 3_600_000 === 0
    ? `${millis / 3_600_000}h`
    : millis > 0 && millis % 60_000 === 0
    ? `${millis / 60_000}m`
    : millis % 1000 === 0
    ? `${millis / 1000}s`
    : `${millis}ms`

/** A duration in milliseconds: positive, or 0 or more with `zero`; at most 2^31 - 1 ms (24 days). */
export const duration = (
  name: string,
  options: { readonly help: string; readonly default?: string; readonly zero?: string }
): ValueFlag<number> => ({
  _tag: "Value",
  name,
  metavar: "DURATION",
  help: options.zero === undefined ? options.help : `${options.help}; 0 ${options.zero}`,
  expected: `${options.zero === undefined ? "a positive duration" : "a duration of 0 or more"} up to 24 days, ` +
    "as 500ms, 30s, 1.5s, 5m or 1h (a bare number is seconds)",
  parse: (raw) => {
    const ms = parseDuration(raw)
    return ms !== undefined && ms <= MAX_INT && (ms > 0 || options.zero !== undefined) ? ms : undefined
  },
  ...(options.default === undefined ? {} : { default: options.default })
})

/** One of `values`. */
export const choice = <const A extends string>(
  name: string,
  values: ReadonlyArray<A>,
  options: { readonly metavar?: string; readonly help: string; readonly default?: A; readonly defaultText?: string }
): ValueFlag<A> => ({
  _tag: "Value",
  name,
  metavar: options.metavar ?? name.toUpperCase(),
  help: options.help,
  expected: `one of ${values.join(", ")}`,
  parse: (raw) => (values as ReadonlyArray<string>).includes(raw) ? raw as A : undefined,
  ...(options.default === undefined ? {} : { default: options.default }),
  ...(options.defaultText === undefined ? {} : { defaultText: options.defaultText })
})

/** Any non-empty text. */
export const text = (
  name: string,
  options: { readonly metavar: string; readonly help: string; readonly default?: string }
): ValueFlag<string> => ({
  _tag: "Value",
  name,
  metavar: options.metavar,
  help: options.help,
  expected: "a non-empty value",
  parse: (raw) => (raw.length > 0 ? raw : undefined),
  ...(options.default === undefined ? {} : { default: options.default })
})

const MODE = /^(?:0o?)?([0-7]{3})$/i

/** A file mode in octal, as `chmod` takes it: `660`, `0660` or `0o660`. */
export const fileMode = (name: string, options: { readonly help: string }): ValueFlag<number> => ({
  _tag: "Value",
  name,
  metavar: "MODE",
  help: options.help,
  expected: "an octal file mode from 000 to 777, as chmod takes it (660, 0660)",
  parse: (raw) => {
    const m = MODE.exec(raw)
    return m === null ? undefined : parseInt(m[1]!, 8)
  }
})

/** A flag without a value. */
export const toggle = (name: string, help: string): SwitchFlag => ({ _tag: "Switch", name, help })

/** The one line for a value `flag` does not allow. */
export const invalid = (flag: ValueFlag<unknown>, raw: string): string =>
  `invalid value ${JSON.stringify(raw)} for --${flag.name}: expected ${flag.expected}`

// ---- @effect/cli options ----------------------------------------------------------------------

const parsed = <A>(flag: ValueFlag<A>) =>
  Options.text(flag.name).pipe(
    Options.withPseudoName(flag.metavar),
    Options.withDescription(flag.help),
    Options.mapEffect((raw) => {
      const value = flag.parse(raw)
      return value === undefined
        ? Effect.fail(ValidationError.invalidValue(HelpDoc.p(invalid(flag, raw))))
        : Effect.succeed(value)
    })
  )

/** The option of a flag with a default: its value, or the default. */
export const withDefault = <A>(flag: ValueFlag<A>): Options.Options<A> => {
  const fallback = flag.default === undefined ? undefined : flag.parse(flag.default)
  if (fallback === undefined) throw new Error(`flag --${flag.name}: no valid default`)
  return Options.withDefault(parsed(flag), fallback)
}

/** The option of a flag that may be absent (the library's own default then applies). */
export const optional = <A>(flag: ValueFlag<A>): Options.Options<Option.Option<A>> => Options.optional(parsed(flag))

/** The option of a flag that must be given (the argv check says so first). */
export const required = <A>(flag: ValueFlag<A>): Options.Options<A> => parsed(flag)

/** The option of a switch. */
export const switchOption = (flag: SwitchFlag): Options.Options<boolean> =>
  Options.boolean(flag.name).pipe(Options.withDescription(flag.help))

// ---- the argv check ---------------------------------------------------------------------------

/** A command as the argv check and the help see it. */
export interface CommandSpec {
  readonly name: string
  /** One line for the command list. */
  readonly summary: string
  /** Paragraphs for the command's help. */
  readonly description: ReadonlyArray<string>
  /** The positional arguments: `<server>`, `<message>...`. */
  readonly positional: {
    readonly name: string
    /** What one is called in errors (default: `name`). */
    readonly noun?: string
    readonly help: string
    /** The values allowed (else any). */
    readonly values?: ReadonlyArray<string>
    /** What each value does, for help. */
    readonly described?: ReadonlyArray<readonly [string, string]>
    readonly min: number
    readonly max: number
  }
  /** Flags, in help sections (the first has no heading of its own: `FLAGS`). */
  readonly sections: ReadonlyArray<{ readonly title: string; readonly flags: ReadonlyArray<Flag> }>
  /** Flags that must be given. */
  readonly required?: ReadonlyArray<string>
  /** Checks across flags (a flag that only applies with another…): the one line, or undefined. */
  readonly check?: (given: Given) => string | undefined
  /** Extra help sections (title, lines). */
  readonly notes?: ReadonlyArray<readonly [string, string]>
}

/** What the command line gave a command: its positionals and its flags' raw values. */
export interface Given {
  readonly positionals: ReadonlyArray<string>
  readonly flags: ReadonlyMap<string, string | true>
}

/** What to do with a command line. */
export type Verdict =
  | { readonly _tag: "Run" }
  | { readonly _tag: "Help"; readonly command: CommandSpec | undefined }
  | { readonly _tag: "Invalid"; readonly message: string }

/** Flags `@effect/cli` handles itself, anywhere on the line (with whether they take a value). */
const BUILT_IN: ReadonlyMap<string, boolean> = new Map([["--version", false], ["--wizard", false], [
  "--completions",
  true
], ["--log-level", true]])

const distance = (a: string, b: string): number => {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i)
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0]!
    row[0] = i
    for (let j = 1; j <= b.length; j++) {
      const current = row[j]!
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1))
      previous = current
    }
  }
  return row[b.length]!
}

/** ` (did you mean X?)` when one of `candidates` is close to `word`. */
const didYouMean = (word: string, candidates: ReadonlyArray<string>): string => {
  const best = candidates
    .map((c) => [c, distance(word, c)] as const)
    .filter(([c, d]) => d <= Math.max(1, Math.floor(c.length / 3)))
    .sort((x, y) => x[1] - y[1])[0]
  return best === undefined ? "" : `did you mean ${best[0]}? `
}

const flagsOf = (command: CommandSpec): ReadonlyArray<Flag> => command.sections.flatMap((s) => s.flags)

/**
 * Checks a command line (without node and the script) against `commands` before `@effect/cli`
 * parses it: help wherever `--help` / `-h` appears (before `--`), else every flag known to the
 * command and given once, with a valid value, the positionals allowed and the command's own
 * checks; the first problem is one line.
 */
export const check = (program: string, commands: ReadonlyArray<CommandSpec>, argv: ReadonlyArray<string>): Verdict => {
  const end = argv.indexOf("--")
  const options = end === -1 ? argv : argv.slice(0, end)
  // The command: the first word that is not a built-in flag or its value.
  let i = 0
  while (i < options.length && options[i]!.startsWith("-")) {
    const name = options[i]!.split("=")[0]!
    if (name === "--help" || name === "-h") return { _tag: "Help", command: undefined }
    if (!BUILT_IN.has(name)) {
      return {
        _tag: "Invalid",
        message: `unknown flag ${name} (a command comes first: ${commands.map((c) => c.name).join(", ")})`
      }
    }
    i += BUILT_IN.get(name) === true && !options[i]!.includes("=") ? 2 : 1
  }
  if (argv.length === 0) return { _tag: "Help", command: undefined }
  if (i >= options.length) return { _tag: "Run" } // `--version`, `--completions bash`
  const word = options[i]!
  const command = commands.find((c) => c.name === word)
  if (command === undefined) {
    const names = commands.map((c) => c.name)
    return {
      _tag: "Invalid",
      message: `unknown command ${JSON.stringify(word)} (${didYouMean(word, names)}commands: ${names.join(", ")})`
    }
  }
  if (options.includes("--help") || options.includes("-h")) return { _tag: "Help", command }

  const known = new Map(flagsOf(command).map((f) => [`--${f.name}`, f]))
  const flags = new Map<string, string | true>()
  const positionals: Array<string> = []
  for (let j = i + 1; j < argv.length; j++) {
    const token = argv[j]!
    if (j === end) {
      for (const rest of argv.slice(j + 1)) positionals.push(rest)
      break
    }
    if (!token.startsWith("--") || token === "--") {
      positionals.push(token)
      continue
    }
    const eq = token.indexOf("=")
    const name = eq === -1 ? token : token.slice(0, eq)
    if (BUILT_IN.has(name)) {
      if (BUILT_IN.get(name) === true && eq === -1) j++
      continue
    }
    const flag = known.get(name)
    if (flag === undefined) {
      return {
        _tag: "Invalid",
        message: `unknown flag ${name} for ${command.name} (${
          didYouMean(name, [...known.keys()])
        }see ${program} ${command.name} --help)`
      }
    }
    if (flags.has(flag.name)) return { _tag: "Invalid", message: `${name} is given more than once: give it once` }
    if (flag._tag === "Switch") {
      if (eq !== -1) {
        return { _tag: "Invalid", message: `${name} takes no value (got ${JSON.stringify(token.slice(eq + 1))})` }
      }
      flags.set(flag.name, true)
      continue
    }
    let raw: string
    if (eq !== -1) {
      raw = token.slice(eq + 1)
    } else if (j + 1 < argv.length && j + 1 !== end) {
      raw = argv[++j]!
    } else {
      return { _tag: "Invalid", message: `${name} needs a value: ${flag.expected}` }
    }
    if (flag.parse(raw) === undefined) return { _tag: "Invalid", message: invalid(flag, raw) }
    flags.set(flag.name, raw)
  }

  const p = command.positional
  const noun = p.noun ?? p.name
  for (const value of positionals) {
    if (p.values !== undefined && !p.values.includes(value)) {
      return {
        _tag: "Invalid",
        message: `unknown ${noun} ${JSON.stringify(value)} for ${command.name}: expected one of ${p.values.join(", ")}`
      }
    }
  }
  if (positionals.length < p.min) {
    return {
      _tag: "Invalid",
      message: `${command.name} needs ${p.min === 1 ? `a ${noun}` : `${p.min} ${noun}s`}${
        p.values === undefined ? "" : `: one of ${p.values.join(", ")}`
      }`
    }
  }
  if (positionals.length > p.max) {
    return {
      _tag: "Invalid",
      message: `unexpected argument ${JSON.stringify(positionals[p.max])}: ${command.name} takes ${
        p.max === 1 ? `one ${noun}` : `at most ${p.max}`
      }`
    }
  }
  for (const name of command.required ?? []) {
    const flag = known.get(`--${name}`)
    if (!flags.has(name) && flag !== undefined) {
      return {
        _tag: "Invalid",
        message: `${command.name} needs --${name}${flag._tag === "Value" ? ` ${flag.metavar}: ${flag.expected}` : ""}`
      }
    }
  }
  const problem = command.check?.({ positionals, flags })
  return problem === undefined ? { _tag: "Run" } : { _tag: "Invalid", message: problem }
}

// ---- help -------------------------------------------------------------------------------------

/** The widest line help prints. */
export const WIDTH = 100

/** Whether `stream` may get ANSI colour: a TTY, and `NO_COLOR` unset or empty (no-color.org). */
export const colorFor = (stream: { readonly isTTY?: boolean }): boolean =>
  stream.isTTY === true && (process.env["NO_COLOR"] ?? "") === ""

/** Removes ANSI escape sequences. */
// eslint-disable-next-line no-control-regex
export const stripAnsi = (s: string): string => s.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, "")

/** Wraps `text` at spaces into lines of at most `width` columns, the first after `first`, the rest after `rest`. */
export const wrap = (text: string, width: number, first: string, rest: string = first): Array<string> => {
  const lines: Array<string> = []
  let line = first
  let empty = true
  for (const word of text.split(/\s+/).filter((w) => w.length > 0)) {
    const visible = stripAnsi(line).length
    if (!empty && visible + 1 + stripAnsi(word).length > width) {
      lines.push(line)
      line = rest + word
    } else {
      line += (empty ? "" : " ") + word
    }
    empty = false
  }
  lines.push(line)
  return lines
}

/** Wraps every line of `text` longer than `width` (continuation lines keep its indent). */
export const wrapLines = (text: string, width: number = WIDTH): string =>
  text.split("\n").map((line) => {
    if (stripAnsi(line).length <= width) return line
    const indent = /^\s*/.exec(line)![0]
    return wrap(line.slice(indent.length), width, indent, indent + "  ").join("\n")
  }).join("\n")

const defaultOf = (flag: Flag): string | undefined =>
  flag._tag === "Switch" ? undefined : flag.default ?? flag.defaultText

/** Joins words that wrapping must not split (replaced by a space once wrapped). */
const KEEP = "\u0001"

/** The text of help: the program's (no command) or a command's. */
export const help = (
  program: {
    readonly name: string
    readonly version: string
    readonly description: string
    readonly footer: ReadonlyArray<readonly [string, string]>
  },
  commands: ReadonlyArray<CommandSpec>,
  command: CommandSpec | undefined,
  color: boolean
): string => {
  const bold = (s: string) => (color ? `\x1b[1m${s}\x1b[0m` : s)
  const out: Array<string> = []
  const append = (more: ReadonlyArray<string>) => {
    for (const line of more) out.push(line)
  }
  const paragraph = (text: string, indent = "  ") => append(wrap(text, WIDTH, indent))
  /** A two-column list: the term, then its text wrapped beside it (or below, if the term is long). */
  const list = (rows: ReadonlyArray<readonly [string, string]>, column: number) => {
    for (const [term, text] of rows) {
      const lead = `  ${term}`
      if (lead.length + 2 <= column) {
        const [head = "", ...tail] = wrap(text, WIDTH, " ".repeat(column))
        out.push(bold(lead) + head.slice(lead.length))
        append(tail)
      } else {
        out.push(bold(lead))
        append(wrap(text, WIDTH, " ".repeat(column)))
      }
    }
  }
  if (command === undefined) {
    out.push(`${bold(program.name)} ${program.version}`, "")
    paragraph(program.description, "")
    out.push("", bold("USAGE"), `  ${program.name} COMMAND [FLAGS] [ARGS]`, `  ${program.name} COMMAND --help`, "")
    out.push(bold("COMMANDS"))
    list(commands.map((c) => [c.name, c.summary]), 14)
    out.push("", bold("FLAGS"))
    list([
      ["-h, --help", "this help; after a command, the command's"],
      ["--version", "print the version"],
      ["--completions SHELL", "print a completion script: sh, bash, fish or zsh"]
    ], 26)
  } else {
    const p = command.positional
    const args = p.min === 0 ? `[<${p.name}>...]` : p.max > 1 ? `<${p.name}>...` : `<${p.name}>`
    out.push(bold("USAGE"), `  ${program.name} ${command.name} ${args} [FLAGS]`, "")
    for (const d of command.description) {
      paragraph(d)
      out.push("")
    }
    out.push(bold("ARGUMENTS"))
    list([[`<${p.name}>`, p.help]], 14)
    if (p.described !== undefined) {
      list(
        p.described.map(([value, text]) => [`  ${value}`, text]),
        4 + Math.max(...p.described.map(([v]) => v.length)) + 2
      )
    }
    for (const [k, section] of command.sections.entries()) {
      out.push("", bold(k === 0 ? "FLAGS" : section.title))
      list(
        section.flags.map((f) => {
          const term = f._tag === "Switch" ? `--${f.name}` : `--${f.name} ${f.metavar}`
          const shown = defaultOf(f)
          const allowed = f._tag === "Value" && f.showExpected === true ? `; ${f.expected}` : ""
          // KEEP joins words that must stay on one line.
          return [term, `${f.help}${allowed}${shown === undefined ? "" : ` (default:${KEEP}${shown})`}`] as const
        }),
        36
      )
    }
  }
  // Notes are lines of `TERM  text`: a list, its column after the longest term.
  for (const [title, text] of [...(command?.notes ?? []), ...program.footer]) {
    out.push("", bold(title))
    const rows = text.split("\n").map((line) => {
      const m = /^(\S+)\s{2,}(.*)$/.exec(line)
      return m === null ? ["", line] as const : [m[1]!, m[2]!] as const
    })
    list(rows, 2 + Math.max(...rows.map(([term]) => term.length)) + 2)
  }
  return out.join("\n").replaceAll(KEEP, " ") + "\n"
}
