// Reading a console form post (application/x-www-form-urlencoded) with a hard size cap.
import { readLimited } from "../lib/body";
import { ApiError } from "../lib/errors";

/** Console forms carry a token and a path or two. */
const MAX_FORM_BYTES = 8 * 1024;

/** The posted fields; ApiError 413 beyond MAX_FORM_BYTES, however the body is sent. */
export async function readForm(request: Request): Promise<URLSearchParams> {
  const bytes = await readLimited(
    request.body,
    MAX_FORM_BYTES,
    request.headers.get("content-length"),
  );
  if (bytes === null) throw new ApiError(413, "payload_too_large", "the form is too large");
  return new URLSearchParams(new TextDecoder().decode(bytes));
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
