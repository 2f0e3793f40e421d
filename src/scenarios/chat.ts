/**
 * Scenario `chat`: a chat server. Every client gets a welcome line with the number of clients
 * online; every line a client sends is broadcast (Effect `PubSub`) to every client with a
 * timestamp and the sender; joins and leaves are announced; a client that disconnects or resets
 * is removed cleanly. Three clients (Alice, Bob, Carol) talk at the same time.
 *
 * Wire format (one line each):
 *
 * ```text
 *   welcome 127.0.0.1:50514, 2 client(s) online      to a new client only
 *   * 127.0.0.1:50520 joined (3 online)              to everyone else
 *   [14:03:07] 127.0.0.1:50514: Hello!               to everyone, the sender included
 *   * 127.0.0.1:50514 left (2 online)                to everyone left
 * ```
 *
 * @since 0.1.0
 */
import { Clock, Data, Deferred, Effect, PubSub, Queue, Ref, type Scope, Stream } from "effect"
import * as Client from "../client/Client.js"
import type { Connection } from "../connection/Connection.js"
import type { Codec } from "../protocol/Codec.js"
import * as Framing from "../protocol/Framing.js"
import type { FramingError } from "../protocol/FramingError.js"
import * as Message from "../protocol/Message.js"
import * as Server from "../server/Server.js"
import type * as ServerError from "../server/ServerError.js"
import { reportFirstFrameError } from "./internal/framing.js"
import { framedPeer, hostPort } from "./internal/peer.js"
import { Wire } from "./internal/wire.js"
import * as Output from "./Output.js"
import * as Scenario from "./Scenario.js"

/** What happens in the room. */
export type ChatEvent =
  | { readonly _tag: "Joined"; readonly who: string; readonly online: number }
  | { readonly _tag: "Said"; readonly who: string; readonly text: string; readonly at: number }
  | { readonly _tag: "Left"; readonly who: string; readonly online: number; readonly how: "quit" | "reset" | "error" }

const clock = (millis: number): string => {
  const d = new Date(millis)
  return [d.getHours(), d.getMinutes(), d.getSeconds()].map((n) => String(n).padStart(2, "0")).join(":")
}

/** The line a client receives for an event. */
export const formatEvent = (event: ChatEvent): string => {
  switch (event._tag) {
    case "Joined":
      return `* ${event.who} joined (${event.online} online)`
    case "Said":
      return `[${clock(event.at)}] ${event.who}: ${event.text}`
    case "Left":
      return `* ${event.who} left (${event.online} online)`
  }
}

/** The welcome line. */
export const formatWelcome = (who: string, online: number): string => `welcome ${who}, ${online} client(s) online`

/** A running chat server. */
export interface ChatServer {
  readonly server: Server.Server
  /** Clients online now. */
  readonly online: Effect.Effect<number>
  /** Every event from now on (for observers), until the scope closes. */
  readonly subscribe: Effect.Effect<Queue.Dequeue<ChatEvent>, never, Scope.Scope>
}

/** Options of `chatServer`. */
export interface ChatServerOptions extends Server.ServerOptions {
  /** The framing of every line (default: lines). */
  readonly framing?: Codec<Uint8Array, FramingError>
  /** Print joins and leaves. Default true. */
  readonly verbose?: boolean
}

/** Starts a chat server in the current scope. */
export const chatServer = (
  options: ChatServerOptions = {}
): Effect.Effect<ChatServer, ServerError.ListenError, Scope.Scope | Output.Output> =>
  Effect.gen(function*() {
    const verbose = options.verbose ?? true
    const framing = options.framing ?? Framing.lines()
    const codec = Message.text(framing)
    // Bounded: a client that stops reading holds publishers back only until its write-stall
    // timeout closes it.
    const hub = yield* Effect.acquireRelease(PubSub.bounded<ChatEvent>(1024), PubSub.shutdown)
    const members = new Set<string>()

    const handler = (conn: Connection) => {
      const who = hostPort(conn.remoteAddress)
      let how: "quit" | "reset" | "error" = "quit"
      const session = Effect.gen(function*() {
        const framed = conn.framed(codec)
        // Subscribe before announcing, so this client misses nothing said after its welcome.
        const inbox = yield* PubSub.subscribe(hub)
        members.add(who)
        const online = members.size
        yield* PubSub.publish(hub, { _tag: "Joined", who, online })
        yield* framed.send(formatWelcome(who, online))
        yield* Stream.fromQueue(inbox).pipe(
          Stream.filter((e) => !(e._tag === "Joined" && e.who === who)),
          Stream.runForEach((e) => framed.send(formatEvent(e))),
          Effect.ignore,
          Effect.forkScoped
        )
        yield* Stream.runForEach(framed.frames, (text) =>
          Effect.flatMap(Clock.currentTimeMillis, (at) => PubSub.publish(hub, { _tag: "Said", who, text, at }))).pipe(
            Effect.catchAll((e) =>
              Effect.zipRight(
                Effect.sync(() => {
                  how = e._tag === "ConnectionFailed" && e.code === "ECONNRESET" ? "reset" : "error"
                }),
                reportFirstFrameError(who, framing, e)
              )
            )
          )
      })
      const leave = Effect.suspend(() => {
        members.delete(who)
        const online = members.size
        return PubSub.publish(hub, { _tag: "Left", who, online, how }).pipe(
          Effect.zipRight(
            verbose
              ? Output.line(
                `  [server] ${who} ${how === "quit" ? "left" : `dropped (${how})`}, ${online} remaining`,
                "dim"
              )
              : Effect.void
          )
        )
      })
      return Effect.scoped(session).pipe(Effect.ensuring(leave))
    }

    const server = yield* Server.make(options, handler)
    return {
      server,
      online: Effect.sync(() =>
        members.size
      ),
      subscribe: PubSub.subscribe(hub)
    } satisfies ChatServer
  })

// ---------------------------------------------------------------------------------------------
// The scenario

/** One simulated client's view. */
export interface ChatClientResult {
  readonly name: string
  readonly id: string
  readonly welcome: string
  readonly welcomeCount: number
  /** Every line received after the welcome. */
  readonly lines: ReadonlyArray<string>
  readonly messagesSeen: number
  readonly joinsSeen: number
  readonly leavesSeen: number
  readonly leftBy: "close" | "reset"
}

/** What the chat scenario returns. */
export interface ChatResult {
  readonly clients: ReadonlyArray<ChatClientResult>
  readonly messagesSent: number
  /** Message lines delivered, over all clients (each message reaches every client). */
  readonly deliveries: number
  /** The server's events, in order, as an observer saw them. */
  readonly events: ReadonlyArray<ChatEvent>
  readonly onlineAtEnd: number
}

export const CLIENTS = [
  { name: "Alice", messages: ["Hello!", "How is everyone?"] },
  { name: "Bob", messages: ["Hi there!", "Doing great!"] },
  { name: "Carol", messages: ["Hey!", "Good to be here!"] }
] as const

const isSaid = (line: string) => line.startsWith("[")

/** Runs the chat scenario. */
export const run = Effect.scoped(
  Effect.gen(function*() {
    yield* Output.heading("chat: a broadcast chat server with three concurrent clients")
    const wire = yield* Wire
    const chat = yield* chatServer({ ...wire.server, port: 0 })
    const port = chat.server.address.port
    yield* Output.line(`chat server listening on ${hostPort(chat.server.address)}`)

    // An observer of the room, to know when the last leave has been handled.
    const observed = yield* chat.subscribe
    const events: Array<ChatEvent> = []
    const everyoneLeft = yield* Deferred.make<void>()
    yield* Queue.take(observed).pipe(
      Effect.tap((e) => {
        events.push(e)
        return e._tag === "Left" && e.online === 0 ? Deferred.succeed(everyoneLeft, undefined) : Effect.void
      }),
      Effect.forever,
      Effect.forkScoped
    )

    const total = CLIENTS.reduce((n, c) => n + c.messages.length, 0)
    const welcomed = yield* Ref.make(0)
    const allWelcomed = yield* Deferred.make<void>()
    const ids = yield* Effect.forEach(CLIENTS, () => Deferred.make<string>())
    const names = new Map<string, string>()
    const nameOf = (line: string) => {
      let out = line
      for (const [id, name] of names) out = out.split(id).join(name)
      return out
    }

    const client = (index: number) =>
      Effect.scoped(
        Effect.gen(function*() {
          const { name, messages } = CLIENTS[index]!
          const conn = yield* Client.connect({ ...wire.client, port })
          const id = hostPort(conn.localAddress)
          names.set(id, name)
          yield* Deferred.succeed(ids[index]!, id)
          const peer = yield* framedPeer(conn, Message.text(Framing.lines()))
          const welcome = yield* peer.next
          yield* Output.line(`  [${name}] ${welcome}`)
          // Everyone is in the room before anyone talks, so every client sees every message.
          if ((yield* Ref.updateAndGet(welcomed, (n) => n + 1)) === CLIENTS.length) {
            yield* Deferred.succeed(allWelcomed, undefined)
          }
          yield* Deferred.await(allWelcomed)

          for (const message of messages) {
            yield* peer.send(message)
            yield* Effect.sleep("50 millis") // think time
          }
          // Read until every message has arrived and (for Bob and Carol) the previous client left.
          const before = index > 0 ? yield* Deferred.await(ids[index - 1]!) : undefined
          const lines: Array<string> = []
          const done = () =>
            lines.filter(isSaid).length >= total &&
            (before === undefined || lines.some((l) => l.startsWith(`* ${before} left`)))
          while (!done()) {
            const line = yield* peer.next
            lines.push(line)
            yield* Output.line(`  [${name}] got ${nameOf(line)}`, isSaid(line) ? "plain" : "dim")
          }
          const leftBy = index === CLIENTS.length - 1 ? "reset" as const : "close" as const
          if (leftBy === "reset") yield* conn.abort
          const welcomeCount = Number(/(\d+) client/.exec(welcome)?.[1] ?? 0)
          return {
            name,
            id,
            welcome,
            welcomeCount,
            lines,
            messagesSeen: lines.filter(isSaid).length,
            joinsSeen: lines.filter((l) => / joined /.test(l)).length,
            leavesSeen: lines.filter((l) => / left /.test(l)).length,
            leftBy
          } satisfies ChatClientResult
        })
      ).pipe(
        Effect.timeoutFail({
          duration: "10 seconds",
          onTimeout: () => new ChatStalled({ client: CLIENTS[index]!.name })
        })
      )

    const clients = yield* Effect.all(CLIENTS.map((_, i) => client(i)), { concurrency: "unbounded" })
    yield* Deferred.await(everyoneLeft).pipe(Effect.timeout("10 seconds"), Effect.ignore)
    const onlineAtEnd = yield* chat.online
    const deliveries = clients.reduce((n, c) => n + c.messagesSeen, 0)
    yield* Output.table(
      ["client", "welcome said", "messages seen", "joins seen", "leaves seen", "left by"],
      clients.map((c) => [c.name, `${c.welcomeCount} online`, c.messagesSeen, c.joinsSeen, c.leavesSeen, c.leftBy])
    )
    yield* Output.line(
      `${total} messages sent, ${deliveries} delivered (every message to all ${CLIENTS.length} clients); ${onlineAtEnd} online at the end`,
      deliveries === total * CLIENTS.length && onlineAtEnd === 0 ? "ok" : "error"
    )
    yield* chat.server.shutdown
    return { clients, messagesSent: total, deliveries, events, onlineAtEnd } satisfies ChatResult
  })
)

/** A simulated client did not see what it waited for in time. */
export class ChatStalled extends Data.TaggedError("ChatStalled")<{ readonly client: string }> {
  override get message(): string {
    return `chat client ${this.client} did not receive every message within 10 s`
  }
}

export const scenario = Scenario.make({
  name: "chat",
  title: "Chat server",
  description: "broadcast chat (PubSub) with welcome counts, join/leave notices and three concurrent clients",
  run: () => run,
  verdict: (r: ChatResult) => ({
    ok: r.deliveries === r.messagesSent * r.clients.length && r.onlineAtEnd === 0 &&
      [...r.clients.map((c) => c.welcomeCount)].sort().join() === "1,2,3",
    summary:
      `${r.messagesSent} messages, ${r.deliveries} deliveries to ${r.clients.length} clients, ${r.onlineAtEnd} online at the end`
  })
})
