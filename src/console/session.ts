// The console's session: a signed cookie that is not the admin token, the per-session CSRF token
// every state-changing form carries, and the same-origin check of those requests. The signing key
// is derived from ADMIN_TOKEN, so changing the token signs every session out. Pure but for
// WebCrypto, which Node has too.
import { decodeBase64Url, encodeBase64Url } from "../lib/bytes";
import { equalsInConstantTime } from "../lib/constant-time";
import { isLocalHttp } from "../lib/local-http";

const encoder = new TextEncoder();

/** The cookie's name without its prefix (see sessionCookieName). */
const SESSION_COOKIE = "midhook_session";
/** A session lasts 12 hours; signing in again starts a new one. */
export const SESSION_SECONDS = 12 * 60 * 60;

export interface Session {
  /** Unix seconds. */
  expires: number;
  /** Random, per session: what the CSRF token is derived from. */
  nonce: string;
  /** The token every POST of this session must carry (hidden field `csrf`). */
  csrf: string;
}

/** HMAC keys derived from admin tokens, once per isolate. */
const keys = new Map<string, Promise<CryptoKey>>();

/** The session signing key: HMAC-SHA256 of a fixed label under the admin token. */
function sessionKey(adminToken: string): Promise<CryptoKey> {
  let key = keys.get(adminToken);
  if (key === undefined) {
    if (keys.size > 4) keys.clear();
    key = (async () => {
      const token = await crypto.subtle.importKey(
        "raw",
        encoder.encode(adminToken),
        { name: "HMAC", hash: "SHA-256" },
        false,
        ["sign"],
      );
      const derived = await crypto.subtle.sign(
        "HMAC",
        token,
        encoder.encode("midhook console session v1"),
      );
      return crypto.subtle.importKey("raw", derived, { name: "HMAC", hash: "SHA-256" }, false, [
        "sign",
        "verify",
      ]);
    })();
    keys.set(adminToken, key);
  }
  return key;
}

async function mac(key: CryptoKey, text: string): Promise<string> {
  return encodeBase64Url(await crypto.subtle.sign("HMAC", key, encoder.encode(text)));
}

async function sessionOf(key: CryptoKey, expires: number, nonce: string): Promise<Session> {
  return { expires, nonce, csrf: await mac(key, `csrf.${nonce}`) };
}

/** A new session from `now` (ms) and its cookie value: `v1.<expires>.<nonce>.<signature>`. */
export async function createSession(
  adminToken: string,
  now: number,
): Promise<{ session: Session; cookie: string }> {
  const key = await sessionKey(adminToken);
  const expires = Math.floor(now / 1000) + SESSION_SECONDS;
  const nonce = encodeBase64Url(crypto.getRandomValues(new Uint8Array(18)));
  const body = `v1.${expires}.${nonce}`;
  return {
    session: await sessionOf(key, expires, nonce),
    cookie: `${body}.${await mac(key, body)}`,
  };
}

/** The session a cookie value carries; null when it is malformed, forged or expired at `now`. */
export async function readSession(
  cookie: string | undefined,
  adminToken: string,
  now: number,
): Promise<Session | null> {
  const match = /^v1\.(\d{1,12})\.([A-Za-z0-9_-]{24})\.([A-Za-z0-9_-]{43})$/.exec(cookie ?? "");
  if (match === null) return null;
  const [, expiresText = "", nonce = "", signature = ""] = match;
  const key = await sessionKey(adminToken);
  const valid = await crypto.subtle.verify(
    "HMAC",
    key,
    decodeBase64Url(signature),
    encoder.encode(`v1.${expiresText}.${nonce}`),
  );
  const expires = Number(expiresText);
  if (!valid || expires * 1000 <= now) return null;
  return sessionOf(key, expires, nonce);
}

/** Whether `presented` is the session's CSRF token (compared in constant time). */
export function csrfMatches(session: Session, presented: string | undefined): boolean {
  return equalsInConstantTime(presented ?? "", session.csrf);
}

/**
 * Whether a state-changing request comes from the console's own pages: its `Origin` is the
 * request's own, or, when a browser sends no Origin, `Sec-Fetch-Site` says same-origin.
 */
export function fromSameOrigin(request: Request): boolean {
  const origin = request.headers.get("origin");
  if (origin !== null) return origin === new URL(request.url).origin;
  return request.headers.get("sec-fetch-site") === "same-origin";
}

/**
 * The cookie's name for a request to `requestUrl`: `__Host-` prefixed wherever the cookie is
 * `Secure`, so that a browser only takes it as set by this very host (never by a sibling
 * subdomain); plain on http to this machine, where `Secure`, and so the prefix, cannot be.
 */
export function sessionCookieName(requestUrl: string): string {
  return isLocalHttp(requestUrl) ? SESSION_COOKIE : `__Host-${SESSION_COOKIE}`;
}

/** The Set-Cookie value that stores `value` (or clears the cookie when `value` is null). */
export function sessionCookieHeader(value: string | null, requestUrl: string): string {
  const parts = [
    `${sessionCookieName(requestUrl)}=${value ?? ""}`,
    "Path=/",
    "HttpOnly",
    "SameSite=Strict",
    `Max-Age=${value === null ? 0 : SESSION_SECONDS}`,
  ];
  if (!isLocalHttp(requestUrl)) parts.push("Secure");
  return parts.join("; ");
}
