/**
 * effect-wire: a typed protocol framework for Effect on Node.js.
 *
 * @since 0.1.0
 */
/**
 * A codec turns a byte stream into values and values back into bytes.
 *
 * @since 0.1.0
 */
export * as Codec from "./protocol/Codec.js"
/**
 * The framing codecs: `lines`, `delimited`, `lengthPrefixed`, `varint`, `contentLength`, `fixed`, `jsonValues`.
 *
 * @since 0.1.0
 */
export * as Framing from "./protocol/Framing.js"
/**
 * The errors a framing codec can report, one tagged union for every codec.
 *
 * @since 0.1.0
 */
export * as FramingError from "./protocol/FramingError.js"
/**
 * The laws every codec obeys, as checks and FastCheck properties to run against your own codecs.
 *
 * @since 0.1.0
 */
export * as Laws from "./protocol/Laws.js"
/**
 * Message codecs: a framing composed with text, JSON or MessagePack and an `effect/Schema`.
 *
 * @since 0.1.0
 */
export * as Message from "./protocol/Message.js"
/**
 * The errors of message codecs, on top of their framing's errors.
 *
 * @since 0.1.0
 */
export * as MessageError from "./protocol/MessageError.js"
/**
 * A connection as a scoped Effect resource, with the reader/writer API of asyncio streams.
 *
 * @since 0.1.0
 */
export * as Connection from "./connection/Connection.js"
/**
 * The errors of a connection's reads and writes, one tagged union.
 *
 * @since 0.1.0
 */
export * as ConnectionError from "./connection/ConnectionError.js"
/**
 * The `Timers` service: one timer for the deadlines of many connections.
 *
 * @since 0.1.0
 */
export * as Timers from "./connection/Timers.js"
/**
 * TLS for servers and clients, on `node:tls`: options, session info and handshake errors.
 *
 * @since 0.1.0
 */
export * as Tls from "./connection/Tls.js"
/**
 * The transport side of a connection: what servers, clients and protocol layers drive it with.
 *
 * @since 0.1.0
 */
export * as Transport from "./connection/Transport.js"
/**
 * Servers as scoped Effect resources and layers: `make`, `layer`, `respond`, graceful shutdown.
 *
 * @since 0.1.0
 */
export * as Server from "./server/Server.js"
/**
 * Errors of starting a server.
 *
 * @since 0.1.0
 */
export * as ServerError from "./server/ServerError.js"
/**
 * Clients: `connect`, `pool` and layers, over TCP, TLS or a Unix domain socket.
 *
 * @since 0.1.0
 */
export * as Client from "./client/Client.js"
/**
 * Typed request/response protocols, defined once with `effect/Schema` and shared by a server (`RpcServer`) and a client (`RpcClient`), whatever the wire format (`JsonRpc`, `ChapterRpc`).
 *
 * @since 0.1.0
 */
export * as Protocol from "./protocol/Protocol.js"
/**
 * What an RPC wire format must provide, so that `RpcServer` and `RpcClient` run unchanged over JSON-RPC 2.0 (`JsonRpc.format`) or the chapter's format (`ChapterRpc.format`).
 *
 * @since 0.1.0
 */
export * as RpcFormat from "./protocol/RpcFormat.js"
/**
 * JSON-RPC 2.0 on the wire, exactly as the specification says, as a pure `RpcFormat`.
 *
 * @since 0.1.0
 */
export * as JsonRpc from "./protocol/JsonRpc.js"
/**
 * A length-prefixed JSON request/response format (`{"id","method","params"}`), as an `RpcFormat`.
 *
 * @since 0.1.0
 */
export * as ChapterRpc from "./protocol/ChapterRpc.js"
/**
 * Serves a `Protocol` over any framing and any `RpcFormat` (JSON-RPC 2.0 by default).
 *
 * @since 0.1.0
 */
export * as RpcServer from "./server/RpcServer.js"
/**
 * A typed client of a `Protocol`: calls matched by id, timeouts, cancellation, pools and layers.
 *
 * @since 0.1.0
 */
export * as RpcClient from "./client/RpcClient.js"
