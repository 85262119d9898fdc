// When a failed image copy is tried again (pure: no I/O, no clock).

/** After attempt n fails, wait the nth delay: 5 tries over about 3 minutes in all. */
const RETRY_DELAYS_MS = [2_000, 10_000, 30_000, 120_000];
/** How many times a failing source is tried. */
const IMAGE_MAX_ATTEMPTS = RETRY_DELAYS_MS.length + 1;
/** The copy's time limit (see ArchiveLimits.timeoutMs for what it covers). */
export const IMAGE_COPY_TIMEOUT_MS = 5 * 60_000;

export type ImageRetry = { state: "pending"; nextTryAt: number } | { state: "failed" };

/**
 * The most of a failure's reason that is kept and logged. A reason can name a host from the
 * payload, which nothing bounds but the body's size: the image's row must stay small enough to
 * record it beside its source URL.
 */
const MAX_REASON_CHARS = 300;

/** The image's `error`: the reason (at most MAX_REASON_CHARS of it), and where its tries stand. */
export function imageError(
  reason: string,
  attempts: number,
  retry: ImageRetry,
  retryable: boolean,
): string {
  const said = reason.length > MAX_REASON_CHARS ? `${reason.slice(0, MAX_REASON_CHARS)}…` : reason;
  if (retry.state === "pending") return `${said} (attempt ${attempts} of ${IMAGE_MAX_ATTEMPTS})`;
  if (!retryable) return `${said} (not retried)`;
  return `${said} (gave up after ${attempts} attempts)`;
}

/**
 * What happens to an image after its `attempts`th copy failed at `now`: tried again after the
 * next delay of the schedule if the failure may pass (`retryable`), else recorded as failed.
 */
export function imageRetry(attempts: number, retryable: boolean, now: number): ImageRetry {
  const delay = RETRY_DELAYS_MS[attempts - 1];
  if (!retryable || delay === undefined) return { state: "failed" };
  return { state: "pending", nextTryAt: now + delay };
}
