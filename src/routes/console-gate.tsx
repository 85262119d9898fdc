// The console's gates: off while ADMIN_TOKEN is unset (or is the example value, to a host other
// than this machine), https (plain http only to this machine),
// a signed-in session that was not signed out for every page (for signing out, any signed-in
// session), and for every state-changing request the same origin and the session's CSRF token.
// Also the headers every console page carries and the HTML error answer.
import type { Context } from "hono";
import { getCookie } from "hono/cookie";
import { createMiddleware } from "hono/factory";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { AppEnv } from "../bindings";
import { adminToken, exampleTokenRefusal } from "../config";
import { readForm } from "../console/form";
import { ConsoleOffPage, ErrorPage, SignInPage } from "../console/pages";
import {
  csrfMatches,
  fromSameOrigin,
  readSession,
  type Session,
  sessionCookieName,
} from "../console/session";
import { isSignedOut } from "../console/sign-outs";
import { noticeText } from "../console/text";
import { ApiError, errorText } from "../lib/errors";
import { httpsUrl, isPlainHttpToOtherHost, isThisMachine } from "../lib/local-http";

/** The Hono environment of the console: the app's, with the session. */
export type ConsoleEnv = AppEnv & { Variables: { session: Session } };

/**
 * Page headers: nothing from elsewhere runs, the page is never framed, cached or sniffed; and,
 * served over https to a host other than this machine, browsers come back over https only.
 */
function pageHeaders(c: Context<ConsoleEnv>): void {
  const url = new URL(c.req.url);
  if (url.protocol === "https:" && !isThisMachine(c.req.url)) {
    c.header("strict-transport-security", "max-age=31536000");
  }
  const socket = `${url.protocol === "https:" ? "wss:" : "ws:"}//${url.host}`;
  c.header(
    "content-security-policy",
    `default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self' ${socket}; form-action 'self'; frame-ancestors 'none'; base-uri 'none'`,
  );
  c.header("x-content-type-options", "nosniff");
  c.header("referrer-policy", "same-origin");
  c.header("x-frame-options", "DENY");
  c.header("cache-control", "no-store");
}

/**
 * 503 and a page saying how to turn the console on while ADMIN_TOKEN is unset, or saying to set
 * one's own while it is the example value, to anything but this machine. Then, over plain
 * http to anything but this machine (see ../lib/local-http): a page is sent to https, anything
 * else refused (403).
 */
export const consoleOn = createMiddleware<ConsoleEnv>(async (c, next) => {
  pageHeaders(c);
  const token = adminToken(c.env);
  if (token === null) return c.html(<ConsoleOffPage />, 503);
  const refusal = isThisMachine(c.req.url) ? null : exampleTokenRefusal(token);
  if (refusal !== null) return c.html(<ConsoleOffPage reason={refusal} />, 503);
  if (isPlainHttpToOtherHost(c.req.url)) {
    if (c.req.method === "GET" || c.req.method === "HEAD")
      return c.redirect(httpsUrl(c.req.url), 308);
    const secure = new URL(httpsUrl(c.req.url)).origin;
    throw new ApiError(403, "https_required", `The console works over https only: open ${secure}`);
  }
  await next();
});

/** The admin token, once consoleOn let the request through. */
export function tokenOf(c: Context<ConsoleEnv>): string {
  return adminToken(c.env) ?? "";
}

/**
 * A valid session that was not signed out (see ../console/sign-outs), or: the sign-in form for a
 * page (coming back to it afterwards), 401 for the page's script (its panel and WebSocket), and
 * the form with a notice for an expired POST. 503 while the sign-outs cannot be read: nothing
 * opens unchecked.
 */
export const signedIn = sessionGate({ readSignOuts: true });

/**
 * For signing out only: a valid session, whether or not it was signed out already, without
 * reading the sign-outs. Signing out only takes access away, so it works while D1 is down.
 */
export const signedInToSignOut = sessionGate({ readSignOuts: false });

/** The session gate, reading the sign-outs or not. */
function sessionGate({ readSignOuts }: { readSignOuts: boolean }) {
  return createMiddleware<ConsoleEnv>(async (c, next) => {
    const cookie = getCookie(c, sessionCookieName(c.req.url));
    const session = await readSession(cookie, tokenOf(c), Date.now());
    if (session === null || (readSignOuts && (await signedOut(c.env, session)))) {
      return noSession(c);
    }
    c.set("session", session);
    await next();
  });
}

/** The answer to a request without a session it may use (see signedIn). */
function noSession(c: Context<ConsoleEnv>): Response | Promise<Response> {
  const url = new URL(c.req.url);
  if (url.pathname.endsWith("/panel") || url.pathname.endsWith("/live")) {
    return c.text("sign in again", 401);
  }
  if (c.req.method === "GET") {
    // A notice (say, "Signed out.") is shown on the form, not carried past it.
    const notice = noticeText(url.searchParams.get("notice"));
    url.searchParams.delete("notice");
    return c.html(<SignInPage next={url.pathname + url.search} notice={notice} />);
  }
  return c.html(<SignInPage error="Your session has ended. Sign in again." />, 401);
}

/** Whether the session was signed out; 503 when that cannot be read: nothing opens unchecked. */
async function signedOut(env: Env, session: Session): Promise<boolean> {
  try {
    return await isSignedOut(env.INDEX, session);
  } catch (err) {
    console.error("reading the console's sign-outs failed", errorText(err));
    throw new ApiError(
      503,
      "storage_unavailable",
      "The console cannot check its session right now; try again.",
    );
  }
}

/** A POST from a page of this console: same origin, and the session's CSRF token in `csrf`. */
export const csrfChecked = createMiddleware<ConsoleEnv>(async (c, next) => {
  if (!fromSameOrigin(c.req.raw)) {
    throw new ApiError(403, "forbidden", "this request did not come from the console's own pages");
  }
  const form = await readForm(c.req.raw);
  if (!csrfMatches(c.get("session"), form.get("csrf") ?? undefined)) {
    throw new ApiError(403, "forbidden", "this form is out of date: reload the page and try again");
  }
  await next();
});

/** The console's error answer: an HTML page with the status and message of an ApiError. */
export function consoleError(err: Error, c: Context<ConsoleEnv>): Response | Promise<Response> {
  pageHeaders(c);
  const session = c.get("session") ?? null;
  if (err instanceof ApiError || err instanceof HTTPException) {
    const status = err.status as ContentfulStatusCode;
    const title =
      status === 404 ? "Not found" : status === 403 ? "Not allowed" : "Could not do that";
    return c.html(<ErrorPage title={title} message={err.message} session={session} />, status);
  }
  console.error("unhandled console error", c.req.method, c.req.path, errorText(err));
  return c.html(
    <ErrorPage
      title="Something went wrong"
      message="An internal error occurred."
      session={session}
    />,
    500,
  );
}
