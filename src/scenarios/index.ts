/**
 * The chapter's sections as runnable Effect programs (see each module), and their registry.
 *
 * @since 0.1.0
 */
export * as All from "./all.js"
export * as Chat from "./chat.js"
export * as ConcurrentRequests from "./concurrent-requests.js"
export * as Echo from "./echo.js"
export * as GracefulShutdown from "./graceful-shutdown.js"
export * as JsonRpc from "./json-rpc.js"
export * as Output from "./Output.js"
export * as Scalability from "./scalability.js"
export * as Scenario from "./Scenario.js"
export * as StreamApi from "./stream-api.js"
export * as ThreadsVsFibers from "./threads-vs-fibers.js"
export * as Timeouts from "./timeouts.js"
