/**
 * The `effect-wire` executable: `tsx src/scenarios/cli.ts …` from a checkout, `bin/effect-wire.js`
 * when installed. See `commands.ts` for the commands and exit codes.
 *
 * Before `@effect/cli` parses the command line, `Flags.check` checks it against the commands'
 * flag declarations: help (`--help`, `-h`, no arguments) is ours (wrapped to 100 columns, every
 * default shown, colour only on a terminal without `NO_COLOR`), and a bad flag is one line on
 * stderr naming the flag, the value and what is allowed, exit 2. Whatever `@effect/cli` still
 * prints (`--version`, `--completions`) goes through a console without ANSI codes off a
 * terminal; its own parse errors, should one get past the check, become one line too.
 *
 * @since 0.1.0
 */
import { HelpDoc, ValidationError } from "@effect/cli"
import { NodeContext, NodeRuntime } from "@effect/platform-node"
import type { Console } from "effect"
import { Cause, Effect, Exit } from "effect"
import { oneLine } from "./all.js"
import { asFlags, cli, EXIT, PROGRAM, SPECS } from "./commands.js"
import * as Flags from "./internal/flags.js"
import * as Output from "./Output.js"

const errColor = Flags.colorFor(process.stderr)
const outColor = Flags.colorFor(process.stdout)

const fail = (message: string, code: number) =>
  Effect.sync(() => {
    // One line, whatever the message holds.
    const text = message.replace(/\s*\n\s*/g, " ").trim()
    process.stderr.write(`${errColor ? "\x1b[31m" : ""}effect-wire: ${text}${errColor ? "\x1b[0m" : ""}\n`)
    return code
  })

/**
 * The console `@effect/cli` prints with: stdout without ANSI codes off a terminal (or with
 * `NO_COLOR`), long lines wrapped (not a completion script); its usage errors are not printed
 * here but as one line by `main`, from the `ValidationError` it fails with.
 */
const cliConsole = (base: Console.Console, wrap: boolean): Console.Console => ({
  ...base,
  log: (...args: ReadonlyArray<unknown>) =>
    Effect.sync(() => {
      const text = args.map(String).join(" ")
      const plain = outColor ? text : Flags.stripAnsi(text)
      process.stdout.write((wrap ? Flags.wrapLines(plain) : plain) + "\n")
    }),
  error: () => Effect.void
})

const args = process.argv.slice(2)
const verdict = Flags.check(PROGRAM.name, SPECS, args)

const run: Effect.Effect<number> = verdict._tag === "Help"
  ? Effect.sync(() => {
    process.stdout.write(Flags.help(PROGRAM, SPECS, verdict.command, outColor))
    return EXIT.ok
  })
  : verdict._tag === "Invalid"
  ? fail(verdict.message, EXIT.usage)
  : cli(process.argv).pipe(
    Effect.as(EXIT.ok as number),
    Effect.catchAll((e): Effect.Effect<number> => {
      if (typeof e === "object" && e !== null && "_tag" in e && e._tag === "CliFailure") {
        const f = e as { readonly message: string; readonly code: number }
        return fail(f.message, f.code)
      }
      if (ValidationError.isValidationError(e)) {
        const text = Flags.stripAnsi(HelpDoc.toAnsiText(e.error)).trim()
        return fail(text === "" ? `bad usage (${e._tag}); see effect-wire --help` : text, EXIT.usage)
      }
      return fail(String(e), EXIT.usage)
    }),
    Effect.catchAllDefect((defect) =>
      Cause.isIllegalArgumentException(defect)
        // A limit the library refuses (the argv check lets few through): bad usage, in flags' words.
        ? fail(asFlags(defect.message), EXIT.usage)
        : fail(`unexpected error: ${oneLine(Cause.die(defect))}`, EXIT.failed)
    ),
    (self) =>
      Effect.flatMap(
        Effect.console,
        (base) => Effect.withConsole(self, cliConsole(base, !args.includes("--completions")))
      ),
    Effect.provide(Output.layerTerminal()),
    Effect.provide(NodeContext.layer)
  )

NodeRuntime.runMain(run, {
  disableErrorReporting: true,
  teardown: (exit, onExit) =>
    onExit(
      Exit.isSuccess(exit)
        ? (typeof exit.value === "number" ? exit.value : 0)
        : Cause.isInterruptedOnly(exit.cause)
        ? 0
        : 1
    )
})
