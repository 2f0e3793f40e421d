/** Text bounded for error messages and logs, shared by every layer. */

/** The longest error detail that embeds a peer's value (a Schema's formatted message). */
export const MAX_DETAIL_LENGTH = 1000

/**
 * `text` cut to `max` characters, the last one `…`: a 1 MB bad value must not make a 1 MB error
 * (logged, sent back, kept in memory). A cut never splits a surrogate pair.
 */
export const capText = (text: string, max: number = MAX_DETAIL_LENGTH): string => {
  if (text.length <= max) return text
  let end = max - 1
  const last = text.charCodeAt(end - 1)
  if (last >= 0xd800 && last <= 0xdbff) end--
  return `${text.slice(0, end)}…`
}
