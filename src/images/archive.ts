// Copying one result image from GoAPI's host into R2, streamed and hashed on the way.
import { toHex } from "../lib/bytes";
import { describeFetchError } from "../lib/fetch-errors";
import { fallbackName, imageKey, imageKind, isAllowedImageUrl } from "./sources";

export interface ArchiveLimits {
  hosts: readonly string[];
  maxBytes: number;
  /** Whole-copy time limit (headers and body). */
  timeoutMs: number;
}

export type ArchiveOutcome =
  | { ok: true; name: string; contentType: string; bytes: number; sha256: string }
  | { ok: false; name: string; error: string; retryable: boolean };

const MAX_REDIRECTS = 5;
/** Part size for sources that send no content-length: the most held in memory at once. */
const PART_BYTES = 8 * 1024 * 1024;

class ArchiveError extends Error {
  constructor(
    message: string,
    readonly retryable: boolean,
  ) {
    super(message);
  }
}

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
  let metered: Metered | undefined;
  // The host being fetched, redirects included: what a failure names.
  let host = hostOf(sourceUrl);
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
    const declared = response.headers.get("content-length");
    const length = declared === null ? null : Number(declared);
    if (length !== null && length > limits.maxBytes) {
      await response.body?.cancel();
      throw new ArchiveError(tooLarge(limits.maxBytes), false);
    }
    if (response.body === null) throw new ArchiveError(`${host} sent an empty body`, true);

    metered = meter(response.body, limits.maxBytes);
    const key = imageKey(taskId, name);
    const httpMetadata = { contentType: kind.contentType };
    if (length !== null && Number.isSafeInteger(length)) {
      const fixed = metered.stream.pipeThrough(new FixedLengthStream(length));
      await bucket.put(key, fixed, { httpMetadata });
    } else {
      await putMultipart(bucket, key, metered.stream, httpMetadata);
    }
    const { bytes, sha256 } = await metered.result;
    return { ok: true, name, contentType: kind.contentType, bytes, sha256 };
  } catch (err) {
    if (err instanceof ArchiveError)
      return { ok: false, name, error: err.message, retryable: err.retryable };
    // The meter's own error may reach here wrapped by R2's put: ask the meter, not the message.
    if (metered?.oversize()) {
      return { ok: false, name, error: tooLarge(limits.maxBytes), retryable: false };
    }
    return {
      ok: false,
      name,
      error: describeFetchError(err, host, limits.timeoutMs),
      retryable: true,
    };
  }
}

function tooLarge(maxBytes: number): string {
  return `larger than MAX_IMAGE_BYTES (${maxBytes} bytes)`;
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

interface Metered {
  stream: ReadableStream<Uint8Array>;
  result: Promise<{ bytes: number; sha256: string }>;
  /** Whether the stream was cut for passing `maxBytes`. */
  oversize: () => boolean;
}

/** Passes `body` through, counting bytes (failing past `maxBytes`) and hashing with SHA-256. */
function meter(body: ReadableStream<Uint8Array>, maxBytes: number): Metered {
  const digest = new crypto.DigestStream("SHA-256");
  const hasher = digest.getWriter();
  let bytes = 0;
  const stream = body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      async transform(chunk, controller) {
        bytes += chunk.byteLength;
        if (bytes > maxBytes) throw new ArchiveError(tooLarge(maxBytes), false);
        await hasher.write(chunk);
        controller.enqueue(chunk);
      },
      async flush() {
        await hasher.close();
      },
    }),
  );
  const result = digest.digest.then((hash) => ({ bytes, sha256: toHex(hash) }));
  return { stream, result, oversize: () => bytes > maxBytes };
}

/**
 * Uploads a stream of unknown length in parts of exactly PART_BYTES (R2 wants every part but the
 * last to have the same size), whatever sizes its chunks come in: each part is cut from the
 * chunks and the remainder carried into the next, so at most one part is held at a time.
 * Nothing is visible until the upload completes.
 */
async function putMultipart(
  bucket: R2Bucket,
  key: string,
  stream: ReadableStream<Uint8Array>,
  httpMetadata: R2HTTPMetadata,
): Promise<void> {
  const upload = await bucket.createMultipartUpload(key, { httpMetadata });
  try {
    const parts: R2UploadedPart[] = [];
    const part = new Uint8Array(PART_BYTES);
    let filled = 0;
    const flush = async (bytes: Uint8Array) => {
      parts.push(await upload.uploadPart(parts.length + 1, bytes));
      filled = 0;
    };
    const reader = stream.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      for (let offset = 0; offset < value.byteLength; ) {
        const take = Math.min(PART_BYTES - filled, value.byteLength - offset);
        part.set(value.subarray(offset, offset + take), filled);
        filled += take;
        offset += take;
        if (filled === PART_BYTES) await flush(part);
      }
    }
    if (filled > 0 || parts.length === 0) await flush(part.subarray(0, filled));
    await upload.complete(parts);
  } catch (err) {
    await upload.abort().catch(() => {});
    throw err;
  }
}
