// Storing an image's bytes in R2 as they arrive: counted and hashed on the way, holding one 1 MiB
// piece in memory at a time, plus one 8 MiB part for a source of unknown length. Nothing is
// visible in R2 unless every byte was stored. What went wrong while storing is said here.
import { toHex } from "../lib/bytes";

/** A copy that failed for a reason said as it is; `retryable` when trying again may help. */
export class ArchiveError extends Error {
  constructor(
    message: string,
    readonly retryable: boolean,
  ) {
    super(message);
  }
}

/** Part size for sources that send no content-length. */
const PART_BYTES = 8 * 1024 * 1024;

/**
 * Bytes read per step from a byte stream (every fetched body is one): one trip through
 * JavaScript per MiB rather than one per network chunk of a few KiB.
 */
const READ_BYTES = 1024 * 1024;

export interface Stored {
  bytes: number;
  sha256: string;
}

export interface StoreOptions {
  /** The body's declared length (see declaredLength); null when it declared none. */
  length: number | null;
  maxBytes: number;
  httpMetadata: R2HTTPMetadata;
  /**
   * The copy's time limit. It ends a write or a part R2 has not taken, after which the put or
   * upload can never complete; never what could still store the object after the copy was
   * given up (after an erasure, say): in one put, the last bytes' write and the put itself; in
   * a multipart upload, complete().
   */
  signal: AbortSignal;
}

/** Hands the body to `write` piece by piece, and says how many bytes it had, and their hash. */
type Copy = (write: (piece: Uint8Array) => Promise<void>) => Promise<Stored>;

/**
 * Stores `body` at `key`: in one put when its length is declared (it must have exactly that
 * many bytes), else in a multipart upload. A body that is empty or larger than `maxBytes` is
 * refused. The body is cancelled if the copy stops before its end.
 */
export async function storeStreamed(
  bucket: R2Bucket,
  key: string,
  body: ReadableStream<Uint8Array> | null,
  { length, maxBytes, httpMetadata, signal }: StoreOptions,
): Promise<Stored> {
  if (body === null) throw emptyBody();
  const expired = whenAborted(signal);
  const copy: Copy = (write) => copyHashed(body, { length, maxBytes }, write);
  try {
    if (length === 0) throw emptyBody();
    if (length !== null && length > maxBytes) throw tooLarge(maxBytes);
    return length === null
      ? await putMultipart(bucket, key, httpMetadata, copy, expired)
      : await putWhole(bucket, key, length, httpMetadata, copy, expired);
  } catch (err) {
    // If the copy never started (refused, or R2 failed first), the body is unread: cancelled
    // here. Once started, pieces() has cancelled it already.
    await body.cancel().catch(() => {});
    throw err;
  }
}

/**
 * The body's length as its headers declare it, or null: when there is no content-length, when
 * it is not a plain number, or when the body was encoded (gzip, say): the runtime decodes it,
 * and the header still gives the encoded length.
 */
export function declaredLength(headers: Headers): number | null {
  const encoding = headers.get("content-encoding")?.trim().toLowerCase() ?? "identity";
  const declared = headers.get("content-length");
  if (encoding !== "identity" || declared === null || !/^\d{1,15}$/.test(declared)) return null;
  return Number(declared);
}

function tooLarge(maxBytes: number): ArchiveError {
  return new ArchiveError(`larger than MAX_IMAGE_BYTES (${maxBytes} bytes)`, false);
}

function emptyBody(): ArchiveError {
  return new ArchiveError("the image host sent an empty body", true);
}

/** Rejects with the signal's reason once it aborts; never settles otherwise. */
function whenAborted(signal: AbortSignal): Promise<never> {
  const aborted = new Promise<never>((_, reject) => {
    if (signal.aborted) reject(signal.reason);
    signal.addEventListener("abort", () => reject(signal.reason), { once: true });
  });
  aborted.catch(() => {});
  return aborted;
}

/** `work`, with a failure of R2 said as one (not as a failure of the image host). */
async function inR2<T>(work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    throw new ArchiveError(`storing in R2 failed: ${message.slice(0, 120)}`, true);
  }
}

/**
 * Hands `body` to `write` piece by piece (see pieces), counting its bytes and hashing them with
 * SHA-256 on the way. Fails past `maxBytes`, for a body other than its declared `length`, and
 * for one with no bytes. `write` must be done with a piece when its promise settles: the next
 * piece is read into the same memory.
 */
async function copyHashed(
  body: ReadableStream<Uint8Array>,
  { length, maxBytes }: Pick<StoreOptions, "length" | "maxBytes">,
  write: (piece: Uint8Array) => Promise<void>,
): Promise<Stored> {
  const digest = new crypto.DigestStream("SHA-256");
  const hasher = digest.getWriter();
  let bytes = 0;
  for await (const piece of pieces(body)) {
    bytes += piece.byteLength;
    if (bytes > maxBytes) throw tooLarge(maxBytes);
    if (length !== null && bytes > length) {
      throw new ArchiveError("the image host sent more bytes than its content-length", true);
    }
    await hasher.write(piece);
    await write(piece);
    // A declared length is the whole body (the runtime's HTTP client ends it there): nothing
    // after the last byte is waited for, so nothing can fail the copy once R2 has every byte.
    if (bytes === length) break;
  }
  if (length !== null && bytes < length) {
    throw new ArchiveError("the image host sent fewer bytes than its content-length", true);
  }
  if (bytes === 0) throw emptyBody();
  await hasher.close();
  return { bytes, sha256: toHex(await digest.digest) };
}

/**
 * The bytes of `body` in pieces (see readerOf). A piece is good until the next one is asked
 * for. Stopping early cancels the body.
 */
async function* pieces(body: ReadableStream<Uint8Array>): AsyncGenerator<Uint8Array> {
  const reader = readerOf(body);
  let buffer = new ArrayBuffer(READ_BYTES);
  try {
    for (;;) {
      const { done, value } = await reader.read(buffer);
      // A byte stream's last read gives back an empty view; only a cancelled one gives none.
      if (value !== undefined && value.byteLength > 0) yield value;
      if (done || value === undefined) return;
      // A byte stream's read took the buffer given to it: this is the same memory, given back.
      buffer = value.buffer as ArrayBuffer;
    }
  } finally {
    // Cancelling a body that has ended does nothing. Not awaited: once the last declared byte
    // is in, nothing more of the source is waited for.
    void reader.cancel().catch(() => {});
  }
}

interface PieceReader {
  read(buffer: ArrayBuffer): Promise<ReadableStreamReadResult<Uint8Array>>;
  cancel(): Promise<void>;
}

/**
 * Reads a byte stream READ_BYTES at a time into the buffer it is given (`readAtLeast`, a
 * Workers extension, fills it unless the body ends); any other stream (one made in
 * JavaScript) in its chunks as they come, without the buffer.
 */
function readerOf(body: ReadableStream<Uint8Array>): PieceReader {
  try {
    const byob = body.getReader({ mode: "byob" });
    return {
      read: (buffer) => byob.readAtLeast(READ_BYTES, new Uint8Array(buffer)),
      cancel: () => byob.cancel(),
    };
  } catch {
    const reader = body.getReader();
    return { read: () => reader.read(), cancel: () => reader.cancel() };
  }
}

/**
 * Stores a body of exactly `length` bytes in one put, as it is read: each piece is written
 * once R2 has read the one before (a FixedLengthStream's write settles only then), so one piece
 * is held at a time. Until its last byte is written, giving up (a failed put, the time limit, a
 * bad body) aborts the stream, and the put, short of bytes, never completes. The last piece may
 * complete it, so that write is not given up at the time limit, and the put is awaited; should
 * the copy fail after it, the object the put stored is deleted.
 */
async function putWhole(
  bucket: R2Bucket,
  key: string,
  length: number,
  httpMetadata: R2HTTPMetadata,
  copy: Copy,
  expired: Promise<never>,
): Promise<Stored> {
  const { readable, writable } = new FixedLengthStream(length);
  const put = inR2(bucket.put(key, readable, { httpMetadata }));
  // Rejects when the put fails and never settles otherwise: a put that fails may leave a write
  // waiting for ever, so the writes and the close are raced with it.
  const putFailure = put.then(() => new Promise<never>(() => {}));
  putFailure.catch(() => {});
  const writer = writable.getWriter();
  let written = 0;
  try {
    const copied = await copy(async (piece) => {
      written += piece.byteLength;
      const last = written === length;
      await Promise.race(
        last ? [writer.write(piece), putFailure] : [writer.write(piece), putFailure, expired],
      );
    });
    await Promise.race([writer.close(), putFailure]);
    await put;
    return copied;
  } catch (err) {
    if (written === length) {
      // R2 was given every byte and may store them whatever failed since: the stream is ended
      // (the close may not have been reached), the put waited for, and what it stored goes
      // with the failed copy.
      void writer.close().catch(() => {});
      const landed = await put.then(
        () => true,
        () => false,
      );
      if (landed) await bucket.delete(key).catch(() => {});
    } else {
      // Not awaited: a failed put may never read what waits to be written.
      void writer.abort(err).catch(() => {});
    }
    throw err;
  }
}

/**
 * Stores a body of unknown length in a multipart upload of parts of exactly PART_BYTES (R2
 * wants every part but the last to have the same size), whatever sizes its pieces come in: each
 * part is cut from the pieces and the remainder carried into the next, so one part is held at a
 * time. Nothing is visible until the upload completes.
 */
async function putMultipart(
  bucket: R2Bucket,
  key: string,
  httpMetadata: R2HTTPMetadata,
  copy: Copy,
  expired: Promise<never>,
): Promise<Stored> {
  const created = inR2(bucket.createMultipartUpload(key, { httpMetadata }));
  // Given up at the time limit, an upload that starts later is aborted when it does.
  const upload = await Promise.race([created, expired]).catch((err: unknown) => {
    created.then((late) => late.abort()).catch(() => {});
    throw err;
  });
  try {
    const parts: R2UploadedPart[] = [];
    const part = new Uint8Array(PART_BYTES);
    let filled = 0;
    const flush = async (bytes: Uint8Array) => {
      // Given up at the time limit, a part leaves an upload that is never completed.
      parts.push(await Promise.race([inR2(upload.uploadPart(parts.length + 1, bytes)), expired]));
      filled = 0;
    };
    const copied = await copy(async (piece) => {
      for (let offset = 0; offset < piece.byteLength; ) {
        const take = Math.min(PART_BYTES - filled, piece.byteLength - offset);
        part.set(piece.subarray(offset, offset + take), filled);
        filled += take;
        offset += take;
        if (filled === PART_BYTES) await flush(part);
      }
    });
    if (filled > 0) await flush(part.subarray(0, filled));
    await inR2(upload.complete(parts));
    return copied;
  } catch (err) {
    // Not awaited: an abort that hangs must not hold up the copy's own error.
    void upload.abort().catch(() => {});
    throw err;
  }
}
