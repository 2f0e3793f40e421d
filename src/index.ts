/**
 * effect-wire: a typed protocol framework for Effect on Node.js.
 *
 * @since 0.1.0
 */
export * as Codec from "./protocol/Codec.js"
export * as Framing from "./protocol/Framing.js"
export * as FramingError from "./protocol/FramingError.js"
export * as Laws from "./protocol/Laws.js"
export * as Message from "./protocol/Message.js"
export * as MessageError from "./protocol/MessageError.js"
export * as Connection from "./connection/Connection.js"
export * as ConnectionError from "./connection/ConnectionError.js"
export * as Timers from "./connection/Timers.js"
export * as Tls from "./connection/Tls.js"
export * as Transport from "./connection/Transport.js"
export * as PlatformSocket from "./connection/PlatformSocket.js"
export * as Server from "./server/Server.js"
export * as ServerError from "./server/ServerError.js"
export * as Client from "./client/Client.js"
export * as Protocol from "./protocol/Protocol.js"
export * as RpcFormat from "./protocol/RpcFormat.js"
export * as JsonRpc from "./protocol/JsonRpc.js"
export * as ChapterRpc from "./protocol/ChapterRpc.js"
export * as RpcServer from "./server/RpcServer.js"
export * as PlatformSocketServer from "./server/PlatformSocketServer.js"
export * as RpcClient from "./client/RpcClient.js"
