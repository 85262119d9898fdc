import { describe, expect, it } from "vitest";
import { safeNext } from "../../src/console/form";
import {
  createSession,
  csrfMatches,
  fromSameOrigin,
  readSession,
  SESSION_SECONDS,
  sessionCookieHeader,
  sessionCookieName,
} from "../../src/console/session";
import { timeAgo } from "../../src/console/text";

const TOKEN = "unit-admin-token";
const NOW = Date.parse("2026-11-27T12:00:00Z");

describe("the console's session cookie", () => {
  it("is signed, not the token, and reads back the same session and CSRF token", async () => {
    const { session, cookie } = await createSession(TOKEN, NOW);
    expect(cookie).not.toContain(TOKEN);
    expect(session.expires).toBe(NOW / 1000 + SESSION_SECONDS);
    expect(await readSession(cookie, TOKEN, NOW + 1000)).toEqual(session);
  });

  it("expires after 12 hours", async () => {
    const { cookie } = await createSession(TOKEN, NOW);
    expect(await readSession(cookie, TOKEN, NOW + SESSION_SECONDS * 1000 - 1)).not.toBeNull();
    expect(await readSession(cookie, TOKEN, NOW + SESSION_SECONDS * 1000)).toBeNull();
  });

  it("is refused when tampered with, or signed under another admin token", async () => {
    const { cookie } = await createSession(TOKEN, NOW);
    const [version, expires, nonce, signature] = cookie.split(".");
    const longer = [version, Number(expires) + 3600, nonce, signature].join(".");
    const otherNonce = [version, expires, "A".repeat(24), signature].join(".");
    for (const forged of [longer, otherNonce, `${cookie}x`, "", "v1.1.2.3", TOKEN]) {
      expect(await readSession(forged, TOKEN, NOW), forged).toBeNull();
    }
    expect(await readSession(cookie, "another-token", NOW)).toBeNull();
  });

  it("gives each session its own CSRF token, compared exactly", async () => {
    const a = (await createSession(TOKEN, NOW)).session;
    const b = (await createSession(TOKEN, NOW)).session;
    expect(a.csrf).not.toBe(b.csrf);
    expect(csrfMatches(a, a.csrf)).toBe(true);
    for (const wrong of [b.csrf, undefined, "", a.csrf.slice(1), `${a.csrf}=`]) {
      expect(csrfMatches(a, wrong)).toBe(false);
    }
  });

  it("is HttpOnly, SameSite=Strict, and Secure with the __Host- prefix except on plain http to this machine", () => {
    const secure = sessionCookieHeader("v", "https://midhook.example.com/sign-in");
    expect(secure).toBe(
      "__Host-midhook_session=v; Path=/; HttpOnly; SameSite=Strict; Max-Age=43200; Secure",
    );
    for (const url of ["http://localhost:8787/", "http://127.0.0.1:9/", "http://[::1]:8787/"]) {
      expect(sessionCookieHeader("v", url)).toBe(
        "midhook_session=v; Path=/; HttpOnly; SameSite=Strict; Max-Age=43200",
      );
      expect(sessionCookieName(url)).toBe("midhook_session");
    }
    expect(sessionCookieHeader("v", "http://192.168.1.2:8787/")).toMatch(
      /^__Host-midhook_session=v; .*; Secure$/,
    );
    expect(sessionCookieName("https://midhook.example.com/tasks/x")).toBe("__Host-midhook_session");
    expect(sessionCookieHeader(null, "https://a.test/")).toMatch(
      /^__Host-midhook_session=; .*Max-Age=0/,
    );
  });
});

describe("state-changing requests", () => {
  const post = (headers: Record<string, string>) =>
    new Request("https://midhook.test/tasks/x/delete", { method: "POST", headers });

  it("come from the same origin: by Origin, or by Sec-Fetch-Site when there is none", () => {
    expect(fromSameOrigin(post({ origin: "https://midhook.test" }))).toBe(true);
    expect(fromSameOrigin(post({ "sec-fetch-site": "same-origin" }))).toBe(true);
    expect(fromSameOrigin(post({ origin: "https://evil.test" }))).toBe(false);
    expect(fromSameOrigin(post({ origin: "null" }))).toBe(false);
    expect(fromSameOrigin(post({ "sec-fetch-site": "cross-site" }))).toBe(false);
    expect(fromSameOrigin(post({}))).toBe(false);
  });

  it("lead back after sign-in only to a path of this site", () => {
    expect(safeNext("/tasks/abc?x=1")).toBe("/tasks/abc?x=1");
    for (const next of [null, "", "https://evil.test/", "//evil.test", "/\\evil.test", "tasks"]) {
      expect(safeNext(next)).toBe("/");
    }
  });

  it("refuse a path a browser would read as another site: control characters, spaces, non-ASCII", () => {
    // Browsers drop tabs and newlines from a Location, so "/\t/evil.test" becomes "//evil.test".
    for (const next of [
      "/\t/evil.example/x",
      "/\n/evil.example/x",
      "/\r\n/evil.example",
      "/\u0000/evil.example",
      "/ /evil.example",
      " //evil.example",
      "\t//evil.example",
      "/tasks\u007f",
      "/t\u00e2che",
    ]) {
      expect(safeNext(next), JSON.stringify(next)).toBe("/");
    }
    expect(safeNext("/tasks/abc?status=failed&cursor=x%2Fy")).toBe(
      "/tasks/abc?status=failed&cursor=x%2Fy",
    );
  });
});

describe("times in the console", () => {
  it("reads as people say them, past and future", () => {
    const now = Date.parse("2026-11-27T12:00:00Z");
    const at = (ms: number) => new Date(now + ms).toISOString();
    expect(timeAgo(at(-2_000), now)).toBe("just now");
    expect(timeAgo(at(-14_000), now)).toBe("14 s ago");
    expect(timeAgo(at(-5 * 60_000), now)).toBe("5 min ago");
    expect(timeAgo(at(-3 * 3_600_000), now)).toBe("3 h ago");
    expect(timeAgo(at(-2 * 86_400_000), now)).toBe("2 d ago");
    expect(timeAgo(at(30_000), now)).toBe("in 30 s");
    expect(timeAgo(at(-40 * 86_400_000), now)).toBe("2026-10-18");
  });
});
