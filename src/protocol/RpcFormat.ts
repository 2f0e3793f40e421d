/**
 * What an RPC wire format must provide, so that `RpcServer` and `RpcClient` run unchanged over
 * JSON-RPC 2.0 (`JsonRpc.format`) or the chapter's format (`ChapterRpc.format`). A format is pure
 * (no I/O): it turns one frame's text into messages and builds the text of replies.
 *
 * ```text
 *   server:  frame text ──parse──▶ Request | Notification | Invalid | Ignored | Batch
 *            success / failure / methodNotFound ──▶ reply text (batches joined with `batch`)
 *   client:  request / notification / cancel ──▶ frame text;  frame text ──parseResponses──▶ Response[]
 * ```
 *
 * @example
 * ```ts
 * import { ChapterRpc, JsonRpc } from "effect-wire"
 *
 * // the same request in two wire formats
 * console.log(JsonRpc.format.parse('{"jsonrpc":"2.0","id":1,"method":"add","params":{"a":1,"b":2}}'))
 * // Output: { _tag: 'Request', id: 1, method: 'add', params: { a: 1, b: 2 } }
 * console.log(ChapterRpc.format.parse('{"id":1,"method":"add","params":{"a":1,"b":2}}'))
 * // Output: { _tag: 'Request', id: 1, method: 'add', params: { a: 1, b: 2 } }
 *
 * for (const format of [JsonRpc.format, ChapterRpc.format]) {
 *   console.log(format.name, format.success(1, 3))
 * }
 * // Output:
 * // jsonrpc {"jsonrpc":"2.0","id":1,"result":3}
 * // chapter {"id":1,"result":3}
 * ```
 *
 * @since 0.1.0
 */

/**
 * A request id: JSON-RPC allows strings, numbers and null.
 *
 * @since 0.1.0
 * @category models
 */
export type Id = string | number | null

/**
 * An error as it travels: JSON-RPC's error object.
 *
 * @since 0.1.0
 * @category models
 */
export interface ErrorObject {
  readonly code: number
  readonly message: string
  readonly data?: unknown
}

/**
 * A request: answered with one reply carrying `id`. `params` is `undefined` when absent.
 *
 * @since 0.1.0
 * @category models
 */
export interface Request {
  readonly _tag: "Request"
  readonly id: Id
  readonly method: string
  readonly params: unknown
}

/**
 * A notification: runs, never answered.
 *
 * @since 0.1.0
 * @category models
 */
export interface Notification {
  readonly _tag: "Notification"
  readonly method: string
  readonly params: unknown
}

/**
 * A message that is answered at once with `error` (parse error, invalid request).
 *
 * @since 0.1.0
 * @category models
 */
export interface Invalid {
  readonly _tag: "Invalid"
  readonly id: Id
  readonly error: ErrorObject
}

/**
 * A message the server neither runs nor answers (for example a response sent to a server).
 *
 * @since 0.1.0
 * @category models
 */
export interface Ignored {
  readonly _tag: "Ignored"
}

/**
 * One message of a frame.
 *
 * @since 0.1.0
 * @category models
 */
export type Incoming = Request | Notification | Invalid | Ignored

/**
 * A batch: its replies go out together, as one frame, in the batch's order.
 *
 * @since 0.1.0
 * @category models
 */
export interface Batch {
  readonly _tag: "Batch"
  readonly messages: ReadonlyArray<Incoming>
}

/**
 * What one frame holds, for a server.
 *
 * @since 0.1.0
 * @category models
 */
export type Parsed = Incoming | Batch

/**
 * A reply, as a client sees it: a `result`, or an `error`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Response {
  readonly id: Id
  readonly result: unknown
  readonly error: ErrorObject | undefined
}

/**
 * A wire format (see the module doc).
 *
 * @since 0.1.0
 * @category models
 */
export interface RpcFormat {
  readonly name: string
  /** The method that cancels a request by id (`$/cancelRequest`), if the format has one. */
  readonly cancelMethod: string | undefined
  /** Parses one frame (its UTF-8 text) as a server. Never throws. */
  readonly parse: (text: string) => Parsed
  /** The reply text of a successful request (`result` is already encoded by its Schema). */
  readonly success: (id: Id, result: unknown) => string
  /** The reply text of a failed request. */
  readonly failure: (id: Id, error: ErrorObject) => string
  /** The reply text for a method the protocol does not define. */
  readonly methodNotFound: (id: Id, method: string) => string
  /** Joins the replies of a batch into one frame's text. */
  readonly batch: (replies: ReadonlyArray<string>) => string
  /** The text of a request (`params` is left out when `undefined`). */
  readonly request: (id: number, method: string, params: unknown) => string
  /** The text of a notification. */
  readonly notification: (method: string, params: unknown) => string
  /** Parses one frame as a client: the replies it holds (anything else is left out). Never throws. */
  readonly parseResponses: (text: string) => ReadonlyArray<Response>
}

/**
 * Options of a format's `make` (`JsonRpc.make`, `ChapterRpc.make`), checked when it is built.
 *
 * @since 0.1.0
 * @category options
 */
export interface FormatOptions {
  /**
   * How deeply a frame may nest arrays and objects (`[]` is 1): default 128, from 1 to 1024. A
   * deeper frame is answered INVALID_REQUEST unread (a client leaves it out).
   */
  readonly maxDepth?: number
}
