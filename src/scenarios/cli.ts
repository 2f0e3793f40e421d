/**
 * The `effect-wire` executable: `tsx src/scenarios/cli.ts …` from a checkout, `bin/effect-wire.js`
 * when installed. See `commands.ts` for the commands and exit codes.
 *
 * @since 0.1.0
 */
import { NodeContext, NodeRuntime } from "@effect/platform-node"
import { Cause, Effect, Exit } from "effect"
import { oneLine } from "./all.js"
import { cli, EXIT } from "./commands.js"
import * as Output from "./Output.js"

const tty = process.stderr.isTTY === true && process.env["NO_COLOR"] === undefined

const fail = (message: string, code: number) =>
  Effect.sync(() => {
    process.stderr.write(`${tty ? "\x1b[31m" : ""}effect-wire: ${message}${tty ? "\x1b[0m" : ""}\n`)
    return code
  })

const main = cli(process.argv).pipe(
  Effect.as(EXIT.ok as number),
  Effect.catchAll((e): Effect.Effect<number> => {
    if (typeof e === "object" && e !== null && "_tag" in e && e._tag === "CliFailure") {
      const f = e as { readonly message: string; readonly code: number }
      return fail(f.message, f.code)
    }
    // @effect/cli has printed the usage error already.
    return Effect.succeed(EXIT.usage as number)
  }),
  Effect.catchAllDefect((defect) => fail(`unexpected error: ${oneLine(Cause.die(defect))}`, EXIT.failed)),
  Effect.provide(Output.layerTerminal()),
  Effect.provide(NodeContext.layer)
)

NodeRuntime.runMain(main, {
  disableErrorReporting: true,
  teardown: (exit, onExit) => onExit(Exit.isSuccess(exit) ? (typeof exit.value === "number" ? exit.value : 0) : Cause.isInterruptedOnly(exit.cause) ? 0 : 1)
})
