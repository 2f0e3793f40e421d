/**
 * Where scenarios and CLI commands print: a small service, so the same program prints plain
 * text in a pipe, colour and a live progress line on a terminal, and nothing but data in a test.
 *
 * Scenarios describe what to show (a heading, a line with a tone, a table, progress); the
 * service decides how: `Output.terminal()` renders for `process.stdout` (colour and `\r`
 * progress only on a TTY, honouring `NO_COLOR`), `Output.capture()` keeps every event for
 * assertions.
 *
 * @since 0.1.0
 */
import { Context, Effect, Layer } from "effect"

/** How a line reads: plain, good news, bad news, a warning, or secondary detail. */
export type Tone = "plain" | "ok" | "error" | "warn" | "dim" | "accent"

/** A column of a table; numbers are right-aligned by default. */
export interface Column {
  readonly header: string
  readonly align?: "left" | "right"
}

/** One thing to show. */
export type Event =
  | { readonly _tag: "Heading"; readonly text: string }
  | { readonly _tag: "Line"; readonly text: string; readonly tone: Tone }
  | {
    readonly _tag: "Table"
    readonly columns: ReadonlyArray<Column>
    readonly rows: ReadonlyArray<ReadonlyArray<string>>
  }
  | { readonly _tag: "Progress"; readonly label: string; readonly done: number; readonly total: number }

/** The output service. */
export interface Output {
  readonly emit: (event: Event) => Effect.Effect<void>
}

export const Output = Context.GenericTag<Output>("effect-wire/scenarios/Output")

/** A heading (a section of a scenario). */
export const heading = (text: string): Effect.Effect<void, never, Output> =>
  Effect.flatMap(Output, (o) => o.emit({ _tag: "Heading", text }))

/** One line of text. */
export const line = (text: string, tone: Tone = "plain"): Effect.Effect<void, never, Output> =>
  Effect.flatMap(Output, (o) => o.emit({ _tag: "Line", text, tone }))

/** An aligned table. */
export const table = (
  columns: ReadonlyArray<Column | string>,
  rows: ReadonlyArray<ReadonlyArray<string | number>>
): Effect.Effect<void, never, Output> =>
  Effect.flatMap(Output, (o) =>
    o.emit({
      _tag: "Table",
      columns: columns.map((c) => (typeof c === "string" ? { header: c } : c)),
      rows: rows.map((r) => r.map(String))
    }))

/** Progress of a long step (shown live on a terminal, dropped elsewhere). */
export const progress = (label: string, done: number, total: number): Effect.Effect<void, never, Output> =>
  Effect.flatMap(Output, (o) => o.emit({ _tag: "Progress", label, done, total }))

// ---------------------------------------------------------------------------------------------
// Rendering

const CODES: Record<Tone, string> = {
  plain: "",
  ok: "\x1b[32m",
  error: "\x1b[31m",
  warn: "\x1b[33m",
  dim: "\x1b[2m",
  accent: "\x1b[36m"
}

const paint = (text: string, tone: Tone, color: boolean): string =>
  color && tone !== "plain" ? `${CODES[tone]}${text}\x1b[0m` : text

const NUMERIC = /^[-+]?[\d,.]+\s*(%|x|s|ms|MB|KB|req\/s)?$/

/** Renders a table as aligned text lines (numbers right-aligned unless a column says otherwise). */
export const renderTable = (
  columns: ReadonlyArray<Column>,
  rows: ReadonlyArray<ReadonlyArray<string>>,
  color = false
): Array<string> => {
  const widths = columns.map((c, i) => Math.max(c.header.length, ...rows.map((r) => (r[i] ?? "").length)))
  const alignOf = (i: number): "left" | "right" => {
    const declared = columns[i]?.align
    if (declared !== undefined) return declared
    return rows.length > 0 && rows.every((r) => NUMERIC.test(r[i] ?? "")) ? "right" : "left"
  }
  const cell = (text: string, i: number) =>
    alignOf(i) === "right" ? text.padStart(widths[i] ?? 0) : text.padEnd(widths[i] ?? 0)
  const format = (cells: ReadonlyArray<string>) => "  " + cells.map(cell).join("  ").trimEnd()
  return [
    paint(format(columns.map((c) => c.header)), "accent", color),
    paint("  " + widths.map((w) => "─".repeat(w)).join("  "), "dim", color),
    ...rows.map(format)
  ]
}

/** Renders one event as text lines (progress renders as nothing: it is live-only). */
export const render = (event: Event, color = false): Array<string> => {
  switch (event._tag) {
    case "Heading":
      return ["", paint(`── ${event.text} `.padEnd(72, "─"), "accent", color)]
    case "Line":
      return [paint(event.text, event.tone, color)]
    case "Table":
      return renderTable(event.columns, event.rows, color)
    case "Progress":
      return []
  }
}

/** Options of `terminal`. */
export interface TerminalOptions {
  /** Colour and live progress; default: `stream.isTTY` and `NO_COLOR` unset or empty. */
  readonly tty?: boolean
  readonly stream?: NodeJS.WriteStream
}

/** Renders to a stream (stdout by default): colour and `\r` progress only on a TTY. */
export const terminal = (options: TerminalOptions = {}): Output => {
  const stream = options.stream ?? process.stdout
  // no-color.org: a `NO_COLOR` that is set and not empty turns colour off.
  const tty = options.tty ?? (stream.isTTY === true && (process.env["NO_COLOR"] ?? "") === "")
  let progressShown = false
  const clearProgress = () => {
    if (progressShown) {
      stream.write("\r\x1b[2K")
      progressShown = false
    }
  }
  return {
    emit: (event) =>
      Effect.sync(() => {
        if (event._tag === "Progress") {
          if (!tty) return
          const width = 24
          const filled = event.total === 0 ? width : Math.round((event.done / event.total) * width)
          const bar = "█".repeat(filled) + "░".repeat(width - filled)
          stream.write(`\r\x1b[2K  ${event.label} ${paint(bar, "accent", true)} ${event.done}/${event.total}`)
          progressShown = true
          return
        }
        clearProgress()
        for (const l of render(event, tty)) stream.write(l + "\n")
      })
  }
}

/** A layer printing to stdout (see `terminal`). */
export const layerTerminal = (options: TerminalOptions = {}): Layer.Layer<Output> =>
  Layer.sync(Output, () => terminal(options))

/** An output that prints nothing. */
export const silent: Output = { emit: () => Effect.void }

/** An output keeping every event (progress included), for tests. */
export interface Captured extends Output {
  readonly events: ReadonlyArray<Event>
  /** The rendered text, without colour or progress. */
  readonly text: () => string
}

/** A fresh capturing output. */
export const capture = (): Captured => {
  const events: Array<Event> = []
  return {
    events,
    emit: (event) => Effect.sync(() => void events.push(event)),
    text: () => events.flatMap((e) => render(e, false)).join("\n")
  }
}
