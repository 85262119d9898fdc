// Reading a body with a hard size cap, enforced while streaming: a request's (as JSON, with the
// API's errors) and any response's.
import { concatBytes } from "./bytes";
import { ApiError } from "./errors";
import { parseJsonBody } from "./json";

/** Admin request bodies are a few bytes of JSON. */
export const MAX_ADMIN_BODY_BYTES = 64 * 1024;

/**
 * The whole of `stream`, or null as soon as more than `maxBytes` arrive (or `declared`, its
 * content-length, says they would), whatever the sender claims.
 */
export async function readLimited(
  stream: ReadableStream<Uint8Array> | null,
  maxBytes: number,
  declared: string | null,
): Promise<Uint8Array | null> {
  if (Number(declared ?? "0") > maxBytes) {
    await stream?.cancel();
    return null;
  }
  if (stream === null) return new Uint8Array(0);
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel();
      return null;
    }
    chunks.push(value);
  }
  return concatBytes(chunks, total);
}

/**
 * The request's body as JSON, at most `maxBytes` (`413`; a declared oversize answers with
 * `connection: close`, so the unread body cannot stall the next request), valid UTF-8 JSON
 * (`400 invalid_json`) and not absurdly nested (`422 invalid_payload`). With `allowEmpty`, an
 * empty body reads as undefined.
 */
export async function readJsonBody(
  request: Request,
  maxBytes: number,
  options: { allowEmpty?: boolean } = {},
): Promise<unknown> {
  const bytes = await readLimited(request.body, maxBytes, request.headers.get("content-length"));
  if (bytes === null) {
    throw new ApiError(413, "payload_too_large", `body exceeds ${maxBytes} bytes`, {
      connection: "close",
    });
  }
  if (options.allowEmpty && bytes.every(isJsonWhitespace)) return undefined;
  const json = parseJsonBody(bytes);
  if (!json.ok) throw new ApiError(json.code === "invalid_json" ? 400 : 422, json.code, json.error);
  return json.value;
}

function isJsonWhitespace(byte: number): boolean {
  return byte === 0x20 || byte === 0x0a || byte === 0x0d || byte === 0x09;
}
