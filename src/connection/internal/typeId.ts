/** The mark of a `Transport` (see `../Transport.ts`), apart so the driver and the module both use it. */
export const TransportTypeId: unique symbol = Symbol.for("effect-wire/Transport")
export type TransportTypeId = typeof TransportTypeId
