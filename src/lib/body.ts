// Reading a request body with a hard size cap, enforced while streaming, and as JSON.
import { concatBytes } from "./bytes";
import { ApiError } from "./errors";
import { parseJsonBody } from "./json";

/**
 * Reads the whole body, refusing with `413` as soon as more than `maxBytes` arrive, whatever
 * `content-length` claims. A declared length over the cap is refused before reading; the answer
 * then carries `connection: close` so the unread body cannot stall the next request.
 */
async function readBodyLimited(request: Request, maxBytes: number): Promise<Uint8Array> {
  const tooLarge = () =>
    new ApiError(413, "payload_too_large", `body exceeds ${maxBytes} bytes`, {
      connection: "close",
    });
  const declared = Number(request.headers.get("content-length") ?? "0");
  if (declared > maxBytes) throw tooLarge();
  if (request.body === null) return new Uint8Array(0);

  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel();
      throw tooLarge();
    }
    chunks.push(value);
  }
  return concatBytes(chunks, total);
}

/**
 * The body as JSON, at most `maxBytes` (`413`), valid UTF-8 JSON (`400 invalid_json`) and not
 * absurdly nested (`422 invalid_payload`). With `allowEmpty`, an empty body reads as undefined.
 */
export async function readJsonBody(
  request: Request,
  maxBytes: number,
  options: { allowEmpty?: boolean } = {},
): Promise<unknown> {
  const bytes = await readBodyLimited(request, maxBytes);
  if (options.allowEmpty && bytes.every(isJsonWhitespace)) return undefined;
  const json = parseJsonBody(bytes);
  if (!json.ok) throw new ApiError(json.code === "invalid_json" ? 400 : 422, json.code, json.error);
  return json.value;
}

function isJsonWhitespace(byte: number): boolean {
  return byte === 0x20 || byte === 0x0a || byte === 0x0d || byte === 0x09;
}
