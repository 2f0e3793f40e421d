/**
 * The decoding step shared by the connection loops of `Server.respond` and `RpcServer`: a read's
 * bytes (or the end of input) into decoded frames, counted, with the first decoding error kept
 * aside so that the frames before it are still answered. The state lives on the loop object
 * itself (no object of its own per connection).
 */
import type { Decoder } from "../../protocol/Codec.js"

/** The decoding state of a connection loop. */
export interface Decoding<A, E> {
  readonly decoder: Decoder<A, E>
  /** Decoded frames not yet handled. */
  readonly frames: Array<A>
  /** Frames decoded so far (the loop's `progress`). */
  decoded: number
  /** The first decoding error: nothing is decoded after it. */
  inputFailure: E | undefined
}

/** Decodes `chunk` (`undefined`: the end of input) into `state.frames`. */
export const decodeInto = <A, E>(state: Decoding<A, E>, chunk: Uint8Array | undefined): void => {
  if (state.inputFailure !== undefined) return
  const frames = state.frames
  const before = frames.length
  const error = chunk === undefined ? state.decoder.end(frames) : state.decoder.push(chunk, frames)
  state.decoded += frames.length - before
  if (error !== undefined) state.inputFailure = error
}

/** Decodes a read's chunks into `state.frames`; `undefined` is the end of input (true is returned). */
export const decodeRead = <A, E>(state: Decoding<A, E>, chunks: ReadonlyArray<Uint8Array> | undefined): boolean => {
  if (chunks === undefined) {
    decodeInto(state, undefined)
    return true
  }
  for (const chunk of chunks) decodeInto(state, chunk)
  return false
}
