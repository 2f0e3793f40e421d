/**
 * The framing codecs: each turns a byte stream into frames (`Uint8Array`s) and back, with one
 * set of limits that both directions enforce. Pick one to match the peer's wire format:
 *
 * | codec            | wire format                                          | default limit |
 * |------------------|------------------------------------------------------|---------------|
 * | `lines`          | `…\n` or `…\r\n`                                     | 64 KiB        |
 * | `delimited`      | any byte sequence as terminator                      | 64 KiB        |
 * | `lengthPrefixed` | 1/2/3/4/8-byte length header, big or little endian   | 1 MiB         |
 * | `varint`         | unsigned LEB128 length header (protobuf, libp2p)     | 1 MiB         |
 * | `contentLength`  | `Content-Length: N\r\n\r\n` header block (LSP)       | 1 MiB         |
 * | `fixed`          | every frame exactly `n` bytes                        | n             |
 * | `jsonValues`     | JSON texts back to back (jayson's TCP transport)     | 1 MiB         |
 *
 * @since 0.1.0
 */
/**
 * `lines`: frames ended by `\n` or `\r\n`.
 *
 * @since 0.1.0
 */
export * from "./Lines.js"
/**
 * `delimited`: frames ended by any byte sequence.
 *
 * @since 0.1.0
 */
export * from "./Delimited.js"
/**
 * `varint`: frames after an unsigned LEB128 length header, and `encodeVarint` / `decodeVarint`.
 *
 * @since 0.1.0
 */
export * from "./Varint.js"
/**
 * `contentLength`: frames after a `Content-Length: N\r\n\r\n` header block.
 *
 * @since 0.1.0
 */
export * from "./ContentLength.js"
/**
 * `lengthPrefixed`: frames after a fixed-size length header.
 *
 * @since 0.1.0
 */
export * from "./LengthPrefixed.js"
/**
 * `fixed`: frames of exactly `n` bytes.
 *
 * @since 0.1.0
 */
export * from "./Fixed.js"
/**
 * `jsonValues`: JSON texts back to back.
 *
 * @since 0.1.0
 */
export * from "./JsonValues.js"
