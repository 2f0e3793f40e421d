/** The server of `bench/slowloris.ts`: a line echo with a 2 s frame-read timeout; prints its port. */
import { Effect } from "effect"
import * as Framing from "../../src/protocol/Framing.js"
import * as Message from "../../src/protocol/Message.js"
import * as Server from "../../src/server/Server.js"

Effect.runFork(
  Effect.scoped(
    Effect.gen(function*() {
      const server = yield* Server.make(
        { port: 0, frameReadTimeout: "2 seconds", maxConnections: 4096 },
        Server.respond(Message.text(Framing.lines()), (line) => Effect.succeed(`ECHO: ${line}`))
      )
      console.log(`port ${server.address.port}`)
      yield* Effect.never
    })
  )
)
