/**
 * effect-wire: a typed protocol framework for Effect on Node.js.
 *
 * @since 0.1.0
 */
export * as Codec from "./protocol/Codec.js"
export * as Framing from "./protocol/Framing.js"
export * as FramingError from "./protocol/FramingError.js"
export * as Laws from "./protocol/Laws.js"
