// Reading a console form post (application/x-www-form-urlencoded) with a hard size cap.
import { concatBytes } from "../lib/bytes";
import { ApiError } from "../lib/errors";

/** Console forms carry a token and a path or two. */
const MAX_FORM_BYTES = 8 * 1024;

/** The posted fields; ApiError 413 beyond MAX_FORM_BYTES, however the body is sent. */
export async function readForm(request: Request): Promise<URLSearchParams> {
  const tooLarge = new ApiError(413, "payload_too_large", "the form is too large");
  if (Number(request.headers.get("content-length") ?? "0") > MAX_FORM_BYTES) throw tooLarge;
  if (request.body === null) return new URLSearchParams();
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > MAX_FORM_BYTES) {
      await reader.cancel();
      throw tooLarge;
    }
    chunks.push(value);
  }
  return new URLSearchParams(new TextDecoder().decode(concatBytes(chunks, total)));
}

/**
 * Where to go after signing in: a path of this site only, never another origin. A browser drops
 * tabs and newlines from a Location and reads a backslash as "/", so "/<tab>/evil.example" would
 * lead to evil.example: only printable ASCII without a backslash (what a URL's path and query
 * are once percent-encoded), after a single "/", is taken.
 */
export function safeNext(next: string | null | undefined): string {
  return next && /^\/(?!\/)[!-[\]-~]*$/.test(next) ? next : "/";
}
