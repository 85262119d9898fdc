// What a failed outbound fetch means, in a sentence a user can act on. Workers' fetch says little:
// a failed DNS lookup surfaces as "internal error; reference = …" (the cause goes to the
// runtime's own log), and a refused or reset connection as "Network connection lost.".

/** Whether a fetch threw `err` because its time ran out (or its signal aborted it). */
export function isTimeoutError(err: unknown): boolean {
  return err instanceof Error && (err.name === "TimeoutError" || err.name === "AbortError");
}

/** The failure of a fetch to `host` that threw `err`, allowed `timeoutMs`. */
export function describeFetchError(err: unknown, host: string, timeoutMs: number): string {
  const message = err instanceof Error ? err.message : String(err);
  if (isTimeoutError(err)) {
    return `no answer from ${host} within ${formatDuration(timeoutMs)}`;
  }
  if (/internal error; reference|dns lookup/i.test(message)) {
    return `could not reach ${host}: its name did not resolve (DNS lookup failed)`;
  }
  if (/network connection lost|connection refused|econnrefused|reset/i.test(message)) {
    return `connection to ${host} refused or dropped before it answered`;
  }
  return `could not reach ${host}: ${message.slice(0, 120)}`;
}

export function formatDuration(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
}
