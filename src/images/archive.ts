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
/**
 * What a copy reads at once where the source lets it (every fetched body does): one step through
 * JavaScript per MiB instead of one per few KiB the network hands over, which made a copy run at
 * about 60% of a plain R2 put's speed.
 */
const READ_BYTES = 1024 * 1024;

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

    const key = imageKey(taskId, name);
    const httpMetadata = { contentType: kind.contentType };
    const { bytes, sha256 } =
      length !== null && Number.isSafeInteger(length)
        ? await putWhole(bucket, key, response.body, length, limits.maxBytes, httpMetadata)
        : await putMultipart(bucket, key, response.body, limits.maxBytes, httpMetadata);
    return { ok: true, name, contentType: kind.contentType, bytes, sha256 };
  } catch (err) {
    if (err instanceof ArchiveError)
      return { ok: false, name, error: err.message, retryable: err.retryable };
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

interface Copied {
  bytes: number;
  sha256: string;
}

/**
 * Hands `body` to `write` piece by piece (see pieces), counting its bytes (failing past
 * `maxBytes`) and hashing them with SHA-256 on the way. `write` must be done with a piece when
 * its promise settles: the next piece is read into the same memory.
 */
async function copyHashed(
  body: ReadableStream<Uint8Array>,
  maxBytes: number,
  write: (piece: Uint8Array) => Promise<void>,
): Promise<Copied> {
  const digest = new crypto.DigestStream("SHA-256");
  const hasher = digest.getWriter();
  let bytes = 0;
  for await (const piece of pieces(body)) {
    bytes += piece.byteLength;
    if (bytes > maxBytes) throw new ArchiveError(tooLarge(maxBytes), false);
    await hasher.write(piece);
    await write(piece);
  }
  await hasher.close();
  return { bytes, sha256: toHex(await digest.digest) };
}

/**
 * The bytes of `body` in pieces: READ_BYTES at a time into one buffer, used again for each
 * piece, where the stream fills a buffer it is given (a byte stream, as every fetched body is);
 * else its chunks as they come. A piece is good until the next one is asked for. Stopping
 * early cancels the body.
 */
async function* pieces(body: ReadableStream<Uint8Array>): AsyncGenerator<Uint8Array> {
  let byob: ReadableStreamBYOBReader;
  try {
    byob = body.getReader({ mode: "byob" });
  } catch {
    // Not a byte stream (one made in JavaScript, say): read as it comes.
    const reader = body.getReader();
    let finished = false;
    try {
      for (let read = await reader.read(); !read.done; read = await reader.read()) {
        yield read.value;
      }
      finished = true;
    } finally {
      if (!finished) await reader.cancel().catch(() => {});
    }
    return;
  }
  let finished = false;
  try {
    let buffer = new ArrayBuffer(READ_BYTES);
    for (;;) {
      const { done, value } = await byob.readAtLeast(READ_BYTES, new Uint8Array(buffer));
      if (value === undefined) break;
      if (value.byteLength > 0) yield value;
      if (done) break;
      buffer = value.buffer as ArrayBuffer;
    }
    finished = true;
  } finally {
    if (!finished) await byob.cancel().catch(() => {});
  }
}

/**
 * Stores `body`, of exactly `length` bytes (FixedLengthStream fails the put otherwise), in one
 * put as it is read. Each piece is written once R2 has taken the one before: at most one piece
 * is held at a time.
 */
async function putWhole(
  bucket: R2Bucket,
  key: string,
  body: ReadableStream<Uint8Array>,
  length: number,
  maxBytes: number,
  httpMetadata: R2HTTPMetadata,
): Promise<Copied> {
  const { readable, writable } = new FixedLengthStream(length);
  const stored = bucket.put(key, readable, { httpMetadata });
  // Awaited below; a put that fails meanwhile fails the next write, and the copy with it.
  stored.catch(() => {});
  const writer = writable.getWriter();
  try {
    const copied = await copyHashed(body, maxBytes, (piece) => writer.write(piece));
    await writer.close();
    await stored;
    return copied;
  } catch (err) {
    // Nothing is stored: the put fails with the aborted stream.
    await writer.abort(err).catch(() => {});
    await stored.catch(() => {});
    throw err;
  }
}

/**
 * Stores `body`, of unknown length, in a multipart upload of parts of exactly PART_BYTES (R2
 * wants every part but the last to have the same size), whatever sizes its pieces come in: each
 * part is cut from the pieces and the remainder carried into the next, so at most one part is
 * held at a time. Nothing is visible until the upload completes.
 */
async function putMultipart(
  bucket: R2Bucket,
  key: string,
  body: ReadableStream<Uint8Array>,
  maxBytes: number,
  httpMetadata: R2HTTPMetadata,
): Promise<Copied> {
  const upload = await bucket.createMultipartUpload(key, { httpMetadata });
  try {
    const parts: R2UploadedPart[] = [];
    const part = new Uint8Array(PART_BYTES);
    let filled = 0;
    const flush = async (bytes: Uint8Array) => {
      parts.push(await upload.uploadPart(parts.length + 1, bytes));
      filled = 0;
    };
    const copied = await copyHashed(body, maxBytes, async (piece) => {
      for (let offset = 0; offset < piece.byteLength; ) {
        const take = Math.min(PART_BYTES - filled, piece.byteLength - offset);
        part.set(piece.subarray(offset, offset + take), filled);
        filled += take;
        offset += take;
        if (filled === PART_BYTES) await flush(part);
      }
    });
    if (filled > 0 || parts.length === 0) await flush(part.subarray(0, filled));
    await upload.complete(parts);
    return copied;
  } catch (err) {
    await upload.abort().catch(() => {});
    throw err;
  }
}
