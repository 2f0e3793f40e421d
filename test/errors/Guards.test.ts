import { describe, expect, it } from "@effect/vitest"
import {
  Client,
  ConnectionError,
  FramingError,
  Laws,
  MessageError,
  RpcClient,
  ServerError,
  Tls
} from "../../src/index.js"

/** One instance of every member of every error family. */
const families = {
  FramingError: [
    new FramingError.FrameTooLarge({
      codec: "lines",
      direction: "decode",
      limit: 1,
      size: 2,
      announced: false,
      offset: 0,
      preview: ""
    }),
    new FramingError.MalformedFrame({ codec: "lines", direction: "decode", reason: "bad", offset: 0, preview: "" }),
    new FramingError.InvalidVarint({ reason: "too-long", offset: 0, preview: "" }),
    new FramingError.UnexpectedEof({ codec: "lines", offset: 0, buffered: 1, expected: undefined, preview: "" }),
    new FramingError.InvalidUtf8({ offset: 0, preview: "" })
  ],
  MessageError: [
    new MessageError.MessageDecodeError({
      codec: "json",
      reason: "json",
      frame: 0,
      offset: 0,
      detail: "",
      path: [],
      preview: "",
      cause: undefined
    }),
    new MessageError.MessageEncodeError({
      codec: "json",
      reason: "json",
      frame: 0,
      offset: 0,
      detail: "",
      path: [],
      cause: undefined
    })
  ],
  ConnectionError: [
    new ConnectionError.ConnectionClosed({ reason: "closed", detail: "" }),
    new ConnectionError.ConnectionFailed({ code: "ECONNRESET", detail: "", cause: undefined }),
    new ConnectionError.IncompleteRead({ partial: new Uint8Array(0), expected: 1 }),
    new ConnectionError.LimitExceeded({ limit: 1, buffered: 1, preview: "" }),
    new ConnectionError.ConnectionTimeout({ timeout: "idle", millis: 1 }),
    new ConnectionError.OutboundLimitExceeded({ limit: 1, queued: 2 })
  ],
  ServerError: [new ServerError.ListenError({ host: "127.0.0.1", port: 1, code: "EADDRINUSE", detail: "" })],
  ConnectError: [new Client.ConnectError({ host: "127.0.0.1", port: 1, code: "ECONNREFUSED", detail: "" })],
  RpcClientError: [
    new RpcClient.RpcRemoteError({ method: "m", code: -32603, detail: "", data: undefined }),
    new RpcClient.RpcTimeout({ method: "m", millis: 1 }),
    new RpcClient.RpcEncodeError({ method: "m", detail: "" }),
    new RpcClient.RpcDecodeError({ method: "m", detail: "" })
  ],
  LawViolation: [new Laws.LawViolation({ law: "roundTrip", details: "" })],
  TlsError: [new Tls.TlsError({ side: "client", peer: "h:1", code: undefined, detail: "" })]
} as const

type Family = keyof typeof families

const guards: Record<Family, (u: unknown) => boolean> = {
  FramingError: FramingError.isFramingError,
  MessageError: MessageError.isMessageError,
  ConnectionError: ConnectionError.isConnectionError,
  ServerError: ServerError.isServerError,
  ConnectError: Client.isConnectError,
  RpcClientError: RpcClient.isRpcClientError,
  LawViolation: Laws.isLawViolation,
  TlsError: Tls.isTlsError
}

/** What a family's guard also accepts from another family (its union type includes it). */
const alsoAccepted: Partial<Record<Family, ReadonlyArray<string>>> = {
  // `RpcClientError` includes the connection's `ConnectionClosed`.
  RpcClientError: ["ConnectionClosed"]
}

const names = Object.keys(families) as Array<Family>

describe("error families: a TypeId and an is* guard each", () => {
  for (const family of names) {
    describe(family, () => {
      const guard = guards[family]

      it("the guard is true for every member", () => {
        for (const e of families[family]) expect([e._tag, guard(e)]).toEqual([e._tag, true])
      })

      it("the guard is false for every other family's errors", () => {
        for (const other of names) {
          if (other === family) continue
          for (const e of families[other]) {
            const expected = alsoAccepted[family]?.includes(e._tag) ?? false
            expect([other, e._tag, guard(e)]).toEqual([other, e._tag, expected])
          }
        }
      })

      it("the guard is false for plain objects with a member's _tag, and for non-objects", () => {
        for (const e of families[family]) {
          expect(guard({ _tag: e._tag })).toBe(false)
          // Every field but the TypeId (a spread would copy it: it is an own property).
          expect(guard(Object.fromEntries(Object.entries(e)))).toBe(false)
          expect(guard(new Error(e.message))).toBe(false)
        }
        for (const u of [undefined, null, 0, "FrameTooLarge", Symbol.for("effect-wire/" + family)]) {
          expect(guard(u)).toBe(false)
        }
      })
    })
  }

  it("every family has its own TypeId, registered under effect-wire/<Family>", () => {
    expect(FramingError.TypeId).toBe(Symbol.for("effect-wire/FramingError"))
    expect(MessageError.TypeId).toBe(Symbol.for("effect-wire/MessageError"))
    expect(ConnectionError.TypeId).toBe(Symbol.for("effect-wire/ConnectionError"))
    expect(ServerError.TypeId).toBe(Symbol.for("effect-wire/ServerError"))
    expect(Client.ConnectErrorTypeId).toBe(Symbol.for("effect-wire/ConnectError"))
    expect(RpcClient.RpcClientErrorTypeId).toBe(Symbol.for("effect-wire/RpcClientError"))
    expect(Laws.LawViolationTypeId).toBe(Symbol.for("effect-wire/LawViolation"))
    expect(Tls.TypeId).toBe(Symbol.for("effect-wire/TlsError"))
  })

  it("ConnectionFailed is the tag of a socket error on an established connection (not SocketError)", () => {
    const e = new ConnectionError.ConnectionFailed({ code: "EPIPE", detail: "write EPIPE", cause: undefined })
    expect(e._tag).toBe("ConnectionFailed")
    expect(e.message).toBe("connection failed EPIPE: write EPIPE")
    expect("SocketError" in ConnectionError).toBe(false)
  })
})
