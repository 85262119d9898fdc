// Reading a request body with a hard size cap, enforced while streaming.
import { ApiError } from "./errors";

/**
 * Reads the whole body, refusing with `413` as soon as more than `maxBytes` arrive, whatever
 * `content-length` claims. A declared length over the cap is refused before reading; the answer
 * then carries `connection: close` so the unread body cannot stall the next request.
 */
export async function readBodyLimited(request: Request, maxBytes: number): Promise<Uint8Array> {
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
  const body = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    body.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return body;
}
