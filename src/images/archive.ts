// Copying one result image from GoAPI's host into R2: which URLs are fetched (allowed hosts, every
// redirect checked), what is taken (images only, within the time limit), and what a failed
// fetch says. ./store streams the bytes into R2, within MAX_IMAGE_BYTES, and says what failed
// there.
import { describeFetchError, formatDuration, isTimeoutError } from "../lib/fetch-errors";
import { fallbackName, imageKey, imageKind, isAllowedImageUrl } from "./sources";
import { ArchiveError, declaredLength, storeStreamed } from "./store";

export interface ArchiveLimits {
  hosts: readonly string[];
  maxBytes: number;
  /**
   * Time limit for the copy: the fetch, its body, and the writes to R2 up to the last step that
   * could store the object (see StoreOptions.signal), which is waited for.
   */
  timeoutMs: number;
}

export type ArchiveOutcome =
  | { ok: true; name: string; contentType: string; bytes: number; sha256: string }
  | { ok: false; name: string; error: string; retryable: boolean };

const MAX_REDIRECTS = 5;

/**
 * Streams `sourceUrl` into `tasks/{taskId}/{slot}.{ext}` of `bucket`. Only allowed hosts are
 * contacted, redirects included; non-images and bodies over `maxBytes` are refused. A failed
 * copy leaves no object behind (R2 writes are atomic), so a retry never finds a partial one.
 */
export async function archiveImage(
  bucket: R2Bucket,
  taskId: string,
  slot: string,
  sourceUrl: string,
  limits: ArchiveLimits,
): Promise<ArchiveOutcome> {
  let name = fallbackName(slot, sourceUrl);
  // The host being fetched, redirects included: what a failure names.
  let host = hostOf(sourceUrl);
  // Whether the host answered with an image: time running out after that may be R2's.
  let answered = false;
  try {
    const signal = AbortSignal.timeout(limits.timeoutMs);
    const { response, url } = await fetchAllowed(sourceUrl, limits.hosts, signal, (next) => {
      host = next;
    });
    const kind = imageKind(response.headers.get("content-type"), url);
    if (kind === null) {
      await response.body?.cancel();
      const type = response.headers.get("content-type") ?? "no content-type";
      throw new ArchiveError(`not an image: ${host} sent ${type.slice(0, 60)}`, false);
    }
    name = `${slot}.${kind.extension}`;
    answered = true;
    const { bytes, sha256 } = await storeStreamed(bucket, imageKey(taskId, name), response.body, {
      length: declaredLength(response.headers),
      maxBytes: limits.maxBytes,
      httpMetadata: { contentType: kind.contentType },
      signal,
    });
    return { ok: true, name, contentType: kind.contentType, bytes, sha256 };
  } catch (err) {
    if (err instanceof ArchiveError)
      return { ok: false, name, error: err.message, retryable: err.retryable };
    if (answered && isTimeoutError(err)) {
      const error = `the copy did not finish within ${formatDuration(limits.timeoutMs)}`;
      return { ok: false, name, error, retryable: true };
    }
    return {
      ok: false,
      name,
      error: describeFetchError(err, host, limits.timeoutMs),
      retryable: true,
    };
  }
}

function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return "an invalid URL";
  }
}

/**
 * Fetches `start`, following at most MAX_REDIRECTS redirects, each to an allowed URL only;
 * `onHop` hears each host before it is contacted.
 */
async function fetchAllowed(
  start: string,
  hosts: readonly string[],
  signal: AbortSignal,
  onHop: (host: string) => void,
): Promise<{ response: Response; url: string }> {
  let url = start;
  for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new ArchiveError("invalid image URL", false);
    }
    if (!isAllowedImageUrl(parsed, hosts)) {
      const what = hop === 0 ? parsed.host : `a redirect to ${parsed.host}`;
      throw new ArchiveError(`${what} is not in IMAGE_HOSTS (or not https)`, false);
    }
    onHop(parsed.host);
    const response = await fetch(parsed, { redirect: "manual", signal });
    const location = response.headers.get("location");
    if (response.status >= 300 && response.status < 400 && location !== null) {
      await response.body?.cancel();
      url = new URL(location, parsed).toString();
      continue;
    }
    if (response.status !== 200) {
      await response.body?.cancel();
      throw new ArchiveError(`${parsed.host} answered ${response.status}`, true);
    }
    return { response, url: parsed.toString() };
  }
  throw new ArchiveError(`more than ${MAX_REDIRECTS} redirects`, false);
}
