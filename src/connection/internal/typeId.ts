/** The marks of a `Connection` and a `Transport`, apart so the driver and the modules both use them. */
export const ConnectionTypeId: unique symbol = Symbol.for("effect-wire/Connection")
export type ConnectionTypeId = typeof ConnectionTypeId

export const TransportTypeId: unique symbol = Symbol.for("effect-wire/Transport")
export type TransportTypeId = typeof TransportTypeId
