// The one doubling backoff: every wait that grows after each failure (pure).

/** `firstMs` after the first failure, doubling after each one, never more than `capMs`. */
export function doublingDelayMs(failures: number, firstMs: number, capMs: number): number {
  const exponent = Math.min(Math.max(failures, 1) - 1, 40);
  return Math.min(capMs, firstMs * 2 ** exponent);
}
