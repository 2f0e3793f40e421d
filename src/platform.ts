/**
 * effect-wire and `@effect/platform`'s sockets, both ways: `import { PlatformSocket,
 * PlatformSocketServer } from "effect-wire/platform"`.
 *
 * A separate entry point because it is the only part of the library that imports
 * `@effect/platform`: an application that does not use it installs effect-wire with `effect` and
 * `msgpackr` only (`@effect/platform` is an optional peer dependency).
 *
 * @since 0.1.0
 */
/**
 * Adapters between effect-wire connections and `@effect/platform`'s `Socket`, both ways.
 *
 * @since 0.1.0
 */
export * as PlatformSocket from "./connection/PlatformSocket.js"
/**
 * effect-wire's `Server` as an `@effect/platform` `SocketServer`.
 *
 * @since 0.1.0
 */
export * as PlatformSocketServer from "./server/PlatformSocketServer.js"
