import { env, exports } from "cloudflare:workers";
import { describe, expect, it, onTestFinished } from "vitest";
import { deadLetterLog, subscriberHealth } from "../src/bindings";
import { EXAMPLE_ADMIN_TOKEN } from "../src/config";
import { LIVE_REPLACED, type LiveMessage } from "../src/contract";
import { overrideEnv } from "./support/env";
import { clone, fixtures, v2Event } from "./support/fixtures";
import { ADMIN_TOKEN, ALL_KEY, GALLERY_KEY } from "./support/keys";
import { latch } from "./support/latch";
import { eventually, pngBytes, serveImage } from "./support/network";
import { quietTask } from "./support/quiet-task";
import { adminGet, ingest, newTaskId, taskView } from "./support/requests";

const ORIGIN = "https://midhook.test";

interface Browser {
  cookie: string;
  csrf: string;
}

function request(path: string, init: RequestInit & { cookie?: string } = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  if (init.cookie) headers.set("cookie", init.cookie);
  return exports.default.fetch(`${ORIGIN}${path}`, { ...init, headers, redirect: "manual" });
}

function postForm(
  path: string,
  fields: Record<string, string>,
  options: { cookie?: string; origin?: string | null } = {},
): Promise<Response> {
  const headers: Record<string, string> = {
    "content-type": "application/x-www-form-urlencoded",
  };
  const origin = options.origin === undefined ? ORIGIN : options.origin;
  if (origin !== null) headers.origin = origin;
  return request(path, {
    method: "POST",
    headers,
    body: new URLSearchParams(fields).toString(),
    cookie: options.cookie,
  });
}

function csrfOf(html: string): string {
  const match = /name="csrf" value="([^"]+)"/.exec(html);
  if (!match?.[1]) throw new Error("no CSRF token on the page");
  return match[1];
}

/** Signs in with the admin token and reads the CSRF token off the gallery. */
async function signIn(): Promise<Browser> {
  const response = await postForm("/sign-in", { token: ADMIN_TOKEN, next: "/" });
  expect(response.status).toBe(303);
  const cookie = (response.headers.get("set-cookie") ?? "").split(";")[0] ?? "";
  const page = await request("/", { cookie });
  expect(page.status).toBe(200);
  return { cookie, csrf: csrfOf(await page.text()) };
}

/** Posts the session's Sign out button, as its page does. */
function signOut(browser: Browser): Promise<Response> {
  return postForm("/sign-out", { csrf: browser.csrf }, { cookie: browser.cookie });
}

function finished(taskId: string) {
  const body = clone(fixtures.v2Finished);
  body.task_id = taskId;
  const png = () => new Response(pngBytes(2048), { headers: { "content-type": "image/png" } });
  body.task_result.image_url = serveImage(`/${taskId}/grid.png`, png);
  return body;
}

describe("signing in", () => {
  it("shows a labelled sign-in form to a visitor without a session", async () => {
    const response = await request("/");
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toMatch(/^text\/html/);
    const html = await response.text();
    expect(html).toContain('<label for="token">Admin token</label>');
    expect(html).toContain('type="password"');
    expect(html).not.toContain(ADMIN_TOKEN);
  });

  it("answers 401 and the form again for a wrong token", async () => {
    for (const token of ["", "wrong", ADMIN_TOKEN.slice(1), `${ADMIN_TOKEN} `]) {
      const response = await postForm("/sign-in", { token });
      expect(response.status, token).toBe(401);
      expect(response.headers.get("set-cookie")).toBeNull();
      expect(await response.text()).toContain("That is not the admin token.");
    }
  });

  it("sets a signed HttpOnly SameSite=Strict Secure __Host- cookie for 12 hours that is not the token", async () => {
    const response = await postForm("/sign-in", { token: ADMIN_TOKEN, next: "/dead-letters" });
    expect(response.status).toBe(303);
    expect(response.headers.get("location")).toBe("/dead-letters");
    const cookie = response.headers.get("set-cookie") ?? "";
    expect(cookie).toMatch(/^__Host-midhook_session=v1\.\d+\.[\w-]+\.[\w-]+; /);
    expect(cookie).toContain("HttpOnly");
    expect(cookie).toContain("SameSite=Strict");
    expect(cookie).toContain("Secure");
    expect(cookie).toContain("Max-Age=43200");
    expect(cookie).not.toContain(ADMIN_TOKEN);
  });

  it("leaves Secure and the __Host- prefix out only on plain http to the local machine", async () => {
    for (const origin of ["http://localhost:8787", "http://127.0.0.1:9000"]) {
      const response = await exports.default.fetch(`${origin}/sign-in`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded", origin },
        body: `token=${ADMIN_TOKEN}`,
        redirect: "manual",
      });
      expect(response.status).toBe(303);
      const setCookie = response.headers.get("set-cookie") ?? "";
      expect(setCookie).toMatch(/^midhook_session=v1\./);
      expect(setCookie).not.toContain("Secure");
      const page = await exports.default.fetch(`${origin}/`, {
        headers: { cookie: setCookie.split(";")[0] ?? "" },
      });
      expect(await page.text()).not.toContain("Sign in to midhook");
    }
  });

  it("sends a page asked for over plain http to https, and refuses a token posted over it", async () => {
    const page = await exports.default.fetch("http://midhook.test/dead-letters?cursor=abc", {
      redirect: "manual",
    });
    expect(page.status).toBe(308);
    expect(page.headers.get("location")).toBe("https://midhook.test/dead-letters?cursor=abc");
    const posted = await exports.default.fetch("http://midhook.test/sign-in", {
      method: "POST",
      headers: {
        "content-type": "application/x-www-form-urlencoded",
        origin: "http://midhook.test",
      },
      body: `token=${ADMIN_TOKEN}`,
      redirect: "manual",
    });
    expect(posted.status).toBe(403);
    expect(posted.headers.get("set-cookie")).toBeNull();
    expect(await posted.text()).toContain("The console works over https only");
  });

  it("tells browsers to come back over https only, but not on the local machine", async () => {
    const page = await request("/");
    expect(page.headers.get("strict-transport-security")).toBe("max-age=31536000");
    const local = await exports.default.fetch("http://localhost:8787/");
    expect(local.status).toBe(200);
    expect(local.headers.get("strict-transport-security")).toBeNull();
  });

  it("never sends a signed-in visitor to another site afterwards", async () => {
    for (const next of ["https://evil.test/", "//evil.test/", "/\\evil.test", "/\t/evil.test/x"]) {
      const response = await postForm("/sign-in", { token: ADMIN_TOKEN, next });
      expect(response.headers.get("location")).toBe("/");
    }
  });

  it("refuses a sign-in posted from another origin", async () => {
    const response = await postForm(
      "/sign-in",
      { token: ADMIN_TOKEN },
      { origin: "https://evil.test" },
    );
    expect(response.status).toBe(403);
    expect(response.headers.get("set-cookie")).toBeNull();
  });

  it("treats a tampered or foreign cookie as no session", async () => {
    const { cookie } = await signIn();
    const tampered = cookie.replace(/\.(\d+)\./, (_, expires) => `.${Number(expires) + 3600}.`);
    for (const forged of [
      tampered,
      "__Host-midhook_session=v1.9999999999.aaaaaaaaaaaaaaaaaaaaaaaa.bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
      `__Host-midhook_session=${ADMIN_TOKEN}`,
      // Without its prefix, a cookie that any subdomain could have set is no session over https.
      cookie.replace(/^__Host-/, ""),
    ]) {
      const response = await request("/", { cookie: forged });
      expect(await response.text()).toContain("Sign in to midhook");
    }
  });

  it("signs out: the cookie is cleared, and a copy of it opens nothing any more", async () => {
    const browser = await signIn();
    const other = await signIn();
    const response = await signOut(browser);
    expect(response.status).toBe(303);
    expect(response.headers.get("set-cookie")).toMatch(/^__Host-midhook_session=; .*Max-Age=0/);
    // A copy taken before (another tab, a stolen cookie) is signed out with it. It is not
    // cleared: a late answer could otherwise clear a session signed in since.
    const page = await request("/", { cookie: browser.cookie });
    expect(await page.text()).toContain("Sign in to midhook");
    expect(page.headers.get("set-cookie")).toBeNull();
    const panel = await request(`/tasks/${newTaskId()}/panel`, { cookie: browser.cookie });
    expect(panel.status).toBe(401);
    const post = await postForm(
      `/tasks/${newTaskId()}/redeliver`,
      { csrf: browser.csrf },
      { cookie: browser.cookie },
    );
    expect(post.status).toBe(401);
    // Signing out again with the copy is harmless: nothing is added to the list.
    const listed = () =>
      env.INDEX.prepare("SELECT COUNT(*) AS n FROM console_sign_outs").first("n");
    const before = await listed();
    const again = await signOut(browser);
    expect(again.status).toBe(303);
    expect(await listed()).toBe(before);
    // Every other session stays signed in.
    const stillIn = await request("/", { cookie: other.cookie });
    expect(await stillIn.text()).not.toContain("Sign in to midhook");
  });

  it("forgets a sign-out once its session would have expired", async () => {
    await env.INDEX.prepare(
      "INSERT INTO console_sign_outs (nonce, expires) VALUES ('old', 1)",
    ).run();
    const browser = await signIn();
    await signOut(browser);
    const { results } = await env.INDEX.prepare("SELECT nonce FROM console_sign_outs").all();
    const nonces = results.map((row) => row.nonce);
    expect(nonces).not.toContain("old");
    expect(nonces).toContain(browser.cookie.split(".")[2]);
  });

  it("signs this browser out, and says copies are not, when a sign-out cannot be recorded", async () => {
    const browser = await signIn();
    await env.INDEX.exec(
      "CREATE TRIGGER refuse_sign_outs BEFORE INSERT ON console_sign_outs BEGIN SELECT RAISE(ABORT, 'refused'); END",
    );
    onTestFinished(async () => {
      await env.INDEX.exec("DROP TRIGGER refuse_sign_outs");
    });
    const response = await signOut(browser);
    expect(response.status).toBe(503);
    expect(response.headers.get("set-cookie")).toMatch(/^__Host-midhook_session=; .*Max-Age=0/);
    const html = await response.text();
    expect(html).toContain("Signed out of this browser only");
    expect(html).toContain("within 12 hours");
    // As the page says: a copy of the cookie still opens the console.
    const copy = await request("/", { cookie: browser.cookie });
    expect(await copy.text()).not.toContain("Sign in to midhook");
  });

  it("opens nothing while it cannot read the sign-outs", async () => {
    const browser = await signIn();
    await env.INDEX.exec("ALTER TABLE console_sign_outs RENAME TO console_sign_outs_away");
    onTestFinished(async () => {
      await env.INDEX.exec("ALTER TABLE console_sign_outs_away RENAME TO console_sign_outs");
    });
    for (const path of ["/", `/tasks/${newTaskId()}/panel`]) {
      const response = await request(path, { cookie: browser.cookie });
      expect(response.status, path).toBe(503);
      expect(await response.text(), path).toContain("cannot check its session right now");
    }
    // Signing out only takes access away: the browser is signed out all the same.
    const response = await signOut(browser);
    expect(response.status).toBe(503);
    expect(response.headers.get("set-cookie")).toMatch(/^__Host-midhook_session=; .*Max-Age=0/);
    expect(await response.text()).toContain("Signed out of this browser only");
  });

  it("answers 503 to anyone but this machine while ADMIN_TOKEN is the example value", async () => {
    overrideEnv({ ADMIN_TOKEN: EXAMPLE_ADMIN_TOKEN });
    const response = await request("/");
    expect(response.status).toBe(503);
    expect(await response.text()).toContain("the example value from .dev.vars.example");
    expect((await exports.default.fetch("http://localhost:8787/")).status).toBe(200);
  });

  it("answers 503 with how to turn it on while ADMIN_TOKEN is unset", async () => {
    overrideEnv({ ADMIN_TOKEN: "" });
    const response = await request("/");
    expect(response.status).toBe(503);
    expect(await response.text()).toContain("ADMIN_TOKEN");
    expect((await postForm("/sign-in", { token: "" })).status).toBe(503);
  });
});

describe("CSRF", () => {
  it("refuses a POST without the session's token, with another one, or from another origin", async () => {
    const browser = await signIn();
    const taskId = newTaskId();
    await ingest(v2Event(taskId, "pending", 0));
    const attempts = [
      postForm(`/tasks/${taskId}/delete`, {}, { cookie: browser.cookie }),
      postForm(`/tasks/${taskId}/delete`, { csrf: "x".repeat(43) }, { cookie: browser.cookie }),
      postForm(
        `/tasks/${taskId}/delete`,
        { csrf: browser.csrf },
        { cookie: browser.cookie, origin: "https://evil.test" },
      ),
      postForm(
        `/tasks/${taskId}/delete`,
        { csrf: browser.csrf },
        { cookie: browser.cookie, origin: null },
      ),
    ];
    for (const response of await Promise.all(attempts)) {
      expect(response.status).toBe(403);
      expect(response.headers.get("content-type")).toMatch(/^text\/html/);
    }
    expect((await adminGet(`/v1/tasks/${taskId}`)).status).toBe(200);
    // Without a session at all: the form, not the action.
    const anonymous = await postForm(`/tasks/${taskId}/delete`, { csrf: browser.csrf });
    expect(anonymous.status).toBe(401);
    expect((await adminGet(`/v1/tasks/${taskId}`)).status).toBe(200);
  });
});

describe("console pages", () => {
  it("carry a policy that runs only the Worker's own script, styles and images", async () => {
    const browser = await signIn();
    const response = await request("/", { cookie: browser.cookie });
    const policy = response.headers.get("content-security-policy") ?? "";
    expect(policy).toContain("default-src 'none'");
    expect(policy).toContain("script-src 'self'");
    expect(policy).toContain("frame-ancestors 'none'");
    expect(response.headers.get("cache-control")).toBe("no-store");
    const html = await response.text();
    for (const asset of html.match(
      /(?:href|src)="(\/(?:console\.css|console\.js|favicon\.svg)\?v=\w+)"/g,
    ) ?? []) {
      const path = asset.replace(/^(?:href|src)="/, "").replace(/"$/, "");
      const file = await request(path);
      expect(file.status, path).toBe(200);
      expect(file.headers.get("cache-control")).toContain("immutable");
    }
    expect(html).not.toMatch(/https?:\/\/(?!midhook\.test)[^"]*\.(?:js|css)/);
  });

  it("shows the gallery from the index: thumbnails lazy-loaded, status filter, task links", async () => {
    const browser = await signIn();
    const taskId = newTaskId();
    await ingest(finished(taskId));
    const html = await eventually(async () => {
      const page = await (await request("/?status=completed", { cookie: browser.cookie })).text();
      return page.includes(`/images/${taskId}/main.png`) ? page : undefined;
    });
    expect(html).toContain(`href="/tasks/${taskId}"`);
    expect(html).toMatch(
      new RegExp(
        `<img src="/images/${taskId}/main.png" alt="Result of imagine task [^"]+" loading="lazy"`,
      ),
    );
    expect(html).toContain('<option value="completed" selected="">');
    const failedOnly = await (await request("/?status=failed", { cookie: browser.cookie })).text();
    expect(failedOnly).not.toContain(taskId);
    expect((await request("/?status=nope", { cookie: browser.cookie })).status).toBe(400);
  });

  it("shows a task page: images, the timeline with duplicates, stale and source, deliveries, buttons", async () => {
    const browser = await signIn();
    const taskId = newTaskId();
    await ingest(v2Event(taskId, "processing", 60));
    await ingest(v2Event(taskId, "processing", 60));
    await ingest(v2Event(taskId, "processing", 40));
    await ingest(finished(taskId));
    const html = await eventually(async () => {
      const page = await (await request(`/tasks/${taskId}`, { cookie: browser.cookie })).text();
      return page.includes(`/images/${taskId}/main.png`) ? page : undefined;
    });
    expect(html).toContain(`<code>${taskId}</code>`);
    expect(html).toMatch(/<td class="num">1<\/td>/); // the 60% event's duplicate
    expect(html).toContain(">stale</span>");
    expect(html).toContain("<td>webhook</td>");
    expect(html).toContain(">task.completed</span>");
    expect(html).toMatch(/<button type="submit">Redeliver<\/button>/);
    expect(html).toMatch(/<button type="submit" class="danger">Delete<\/button>/);
    expect(html).toContain("<td>all</td>");
    expect((await request("/tasks/never-seen", { cookie: browser.cookie })).status).toBe(404);
  });

  it("deletes a task from its page, then sends the visitor to the gallery", async () => {
    const browser = await signIn();
    const taskId = newTaskId();
    await ingest(finished(taskId));
    const response = await postForm(
      `/tasks/${taskId}/delete`,
      { csrf: browser.csrf },
      { cookie: browser.cookie },
    );
    expect(response.status).toBe(303);
    expect(response.headers.get("location")).toBe("/?notice=deleted");
    expect((await adminGet(`/v1/tasks/${taskId}`)).status).toBe(404);
  });

  it("shows only the notices it knows, whatever the query names", async () => {
    const { cookie } = await signIn();
    const known = await (await request("/?notice=deleted", { cookie })).text();
    expect(known).toContain("The task was deleted");
    for (const key of ["constructor", "__proto__", "toString", "hasOwnProperty"]) {
      for (const page of [
        await request(`/?notice=${key}`, { cookie }),
        await request(`/?notice=${key}`),
      ]) {
        expect(page.status).toBe(200);
        const html = await page.text();
        expect(html, key).not.toMatch(/native code|\[object Object\]/);
        expect(html, key).not.toContain('class="notice"');
      }
    }
  });

  it("redelivers a task's events from its page", async () => {
    const browser = await signIn();
    const taskId = newTaskId();
    await ingest(v2Event(taskId, "pending", 0));
    const response = await postForm(
      `/tasks/${taskId}/redeliver`,
      { csrf: browser.csrf },
      { cookie: browser.cookie },
    );
    expect(response.status).toBe(303);
    expect(response.headers.get("location")).toBe(`/tasks/${taskId}?notice=redelivered`);
  });

  it("lists dead letters with a Replay button that takes one off the list", async () => {
    const browser = await signIn();
    const taskId = newTaskId();
    const { event } = await ingest(v2Event(taskId, "pending", 0));
    const id = await deadLetterLog(env).add({
      task_id: taskId,
      event,
      subscription: "all",
      attempts: 10,
      last_status: 503,
      last_error: "HTTP 503 <script>alert(1)</script>",
      failed_at: new Date().toISOString(),
    });
    const page = await (await request("/dead-letters", { cookie: browser.cookie })).text();
    expect(page).toContain(`action="/dead-letters/${id}/replay"`);
    expect(page).toContain("HTTP 503 &lt;script&gt;");
    const response = await postForm(
      `/dead-letters/${id}/replay`,
      { csrf: browser.csrf },
      { cookie: browser.cookie },
    );
    expect(response.status).toBe(303);
    expect(await deadLetterLog(env).get(id)).toBeNull();
    const again = await postForm(
      `/dead-letters/${id}/replay`,
      { csrf: browser.csrf },
      { cookie: browser.cookie },
    );
    expect(again.status).toBe(404);
  });
});

describe("a silent task's page", () => {
  it("says when GoAPI is polled next for a task that is not finished", async () => {
    const browser = await signIn();
    const taskId = newTaskId();
    await ingest(v2Event(taskId, "processing", 30));
    const page = await (await request(`/tasks/${taskId}`, { cookie: browser.cookie })).text();
    expect(page).toContain("<dt>Polling GoAPI</dt>");
    expect(page).toMatch(/next <time[^>]*>in 10 min<\/time> · 0 polls/);
  });
});

describe("the subscriptions page", () => {
  it("shows each subscription's health and resumes a paused one, never showing a key", async () => {
    const browser = await signIn();
    const health = subscriberHealth(env, "all");
    for (let i = 0; i < 3; i++) await health.report("all", "failure", 3);
    const page = await (await request("/subscriptions", { cookie: browser.cookie })).text();
    expect(page).toContain("https://subscriber.test/all");
    expect(page).toContain('action="/subscriptions/all/resume"');
    expect(page).not.toContain(ALL_KEY);
    expect(page).not.toContain(GALLERY_KEY);
    const refused = await postForm(
      "/subscriptions/all/resume",
      { csrf: "forged" },
      {
        cookie: browser.cookie,
      },
    );
    expect(refused.status).toBe(403);
    expect((await health.status("all")).state).toBe("paused");
    const resumed = await postForm(
      "/subscriptions/all/resume",
      { csrf: browser.csrf },
      { cookie: browser.cookie },
    );
    expect(resumed.status).toBe(303);
    expect(resumed.headers.get("location")).toBe("/subscriptions?notice=resumed");
    expect(await health.status("all")).toMatchObject({ state: "active", consecutive_failures: 0 });
  });
});

describe("live updates", () => {
  async function openSocket(taskId: string, cookie: string) {
    const response = await request(`/tasks/${taskId}/live`, {
      headers: { upgrade: "websocket", origin: ORIGIN },
      cookie,
    });
    expect(response.status).toBe(101);
    const socket = response.webSocket;
    if (!socket) throw new Error("no WebSocket");
    const messages: LiveMessage[] = [];
    socket.addEventListener("message", (event) => {
      messages.push(JSON.parse(String(event.data)));
    });
    socket.accept();
    return { socket, messages };
  }

  it("tells an open page of each change, and the page reads the task under its session", async () => {
    const browser = await signIn();
    const taskId = newTaskId();
    await ingest(v2Event(taskId, "processing", 10));
    const { socket, messages } = await openSocket(taskId, browser.cookie);
    await eventually(() => (messages.length >= 1 ? true : undefined));
    expect(messages[0]).toEqual({ type: "changed" });
    const panel = () => request(`/tasks/${taskId}/panel`, { cookie: browser.cookie });
    expect(await (await panel()).text()).toContain("10%");

    // (The task's alarm may tell of a change of its own too: the count only grows.)
    const before = messages.length;
    await ingest(v2Event(taskId, "processing", 70));
    await eventually(() => (messages.length > before ? true : undefined));
    expect(await (await panel()).text()).toContain("70%");

    await ingest(finished(taskId));
    await eventually(async () => {
      const html = await (await panel()).text();
      return html.includes(`/images/${taskId}/main.png`) ? true : undefined;
    });

    await postForm(`/tasks/${taskId}/delete`, { csrf: browser.csrf }, { cookie: browser.cookie });
    await eventually(() => messages.find((m) => m.type === "deleted"));
    // Only notices go over the socket: the task itself is read through the session each time.
    for (const m of messages)
      expect(Object.keys(m).sort()).toEqual(m.type === "deleted" ? ["task_id", "type"] : ["type"]);
    socket.close();
  });

  it("tells an open page of each image as it is stored, not once all copies end", async () => {
    overrideEnv({ SUBSCRIPTIONS: "[]" });
    const browser = await signIn();
    const taskId = newTaskId();
    await ingest(v2Event(taskId, "processing", 10));
    await quietTask(taskId);
    const { socket, messages } = await openSocket(taskId, browser.cookie);
    await eventually(() => (messages.length >= 1 ? true : undefined));
    // The tile's copy waits until the test lets it go: the alarm run cannot end before. (Only
    // the test resolves what the object awaits: a promise the object resolved would carry the
    // object's I/O context back into the test.)
    const [tileHeld, release] = latch();
    onTestFinished(release);
    const body = finished(taskId);
    (body.task_result as { image_urls: string[] }).image_urls = [
      serveImage(`/${taskId}/tile.png`, async () => {
        await tileHeld;
        return new Response(pngBytes(1024), { headers: { "content-type": "image/png" } });
      }),
    ];
    const before = messages.length;
    await ingest(body);
    const images = await eventually(async () => {
      const found = (await taskView(taskId)).images;
      return found.find((i) => i.name === "main.png")?.state === "stored" ? found : undefined;
    });
    expect(images.find((i) => i.name !== "main.png")?.state).toBe("pending");
    // The completion's own notice, then the main image's, while the tile is still copying.
    await eventually(() => (messages.length >= before + 2 ? true : undefined), 3_000);
    socket.close();
    release();
  });

  it("gives a page signed out elsewhere nothing of the task over its open socket", async () => {
    const browser = await signIn();
    const taskId = newTaskId();
    await ingest(v2Event(taskId, "processing", 10));
    const { socket, messages } = await openSocket(taskId, browser.cookie);
    await eventually(() => (messages.length >= 1 ? true : undefined));
    await signOut(browser);

    const before = messages.length;
    await ingest(v2Event(taskId, "processing", 70));
    await eventually(() => (messages.length > before ? true : undefined));
    expect(messages.every((m) => m.type === "changed" && Object.keys(m).length === 1)).toBe(true);
    const panel = await request(`/tasks/${taskId}/panel`, { cookie: browser.cookie });
    expect(panel.status).toBe(401);
    socket.close();
  });

  it("lets a new page take the place of the one open longest once a task has 32", async () => {
    const browser = await signIn();
    const taskId = newTaskId();
    await ingest(v2Event(taskId, "processing", 10));
    const sockets: WebSocket[] = [];
    const closed = new Map<number, number>();
    for (let i = 0; i < 33; i++) {
      const { socket } = await openSocket(taskId, browser.cookie);
      socket.addEventListener("close", (event) => {
        closed.set(i, event.code);
      });
      sockets.push(socket);
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    await eventually(() => (closed.size > 0 ? true : undefined));
    // Closed with the code that tells the page not to reconnect.
    expect([...closed]).toEqual([[0, LIVE_REPLACED]]);
    for (const socket of sockets) socket.close();
  });

  it("refuses a WebSocket without a session, from another origin, or for an unknown task", async () => {
    const browser = await signIn();
    const taskId = newTaskId();
    await ingest(v2Event(taskId, "pending", 0));
    const upgrade = { upgrade: "websocket" };
    expect((await request(`/tasks/${taskId}/live`, { headers: upgrade })).status).toBe(401);
    const foreign = await request(`/tasks/${taskId}/live`, {
      headers: { ...upgrade, origin: "https://evil.test" },
      cookie: browser.cookie,
    });
    expect(foreign.status).toBe(403);
    const unknown = await request(`/tasks/${newTaskId()}/live`, {
      headers: upgrade,
      cookie: browser.cookie,
    });
    expect(unknown.status).toBe(404);
  });
});
