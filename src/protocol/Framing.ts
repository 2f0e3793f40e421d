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
export { lines, type LinesCodec, type LinesConfig, type LinesOptions } from "./Lines.js"
export { delimited, type DelimitedCodec, type DelimitedConfig, type DelimitedOptions } from "./Delimited.js"
export { varint, type VarintCodec, type VarintConfig, type VarintOptions, encodeVarint, decodeVarint, type DecodedVarint } from "./Varint.js"
export { contentLength, type ContentLengthCodec, type ContentLengthConfig, type ContentLengthOptions } from "./ContentLength.js"
export { lengthPrefixed, type LengthPrefixedCodec, type LengthPrefixedConfig, type LengthPrefixedOptions } from "./LengthPrefixed.js"
export { fixed, type FixedCodec, type FixedConfig } from "./Fixed.js"
export { jsonValues, type JsonValuesCodec, type JsonValuesConfig, type JsonValuesOptions } from "./JsonValues.js"
