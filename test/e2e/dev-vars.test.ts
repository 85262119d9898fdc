// `npm run dev` as a user runs it: a subscriber key kept in .dev.vars (as SUBSCRIPTIONS names it,
// env:GALLERY_WEBHOOK_SECRET) is loaded, and deliveries go out signed with it; the task index's
// migrations are applied, so the task list answers on a fresh copy.
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer, type IncomingMessage } from "node:http";
import { Webhook } from "standardwebhooks";
import { afterAll, describe, expect, it } from "vitest";
import { EXAMPLE_ADMIN_TOKEN } from "../../src/config";
import { readView, views } from "../support/views";
import { type DevServer, startDevServer } from "./support/project-copy";

/** A port nothing listens on: taken from the OS, then released. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
  const address = server.address();
  await new Promise((done) => server.close(done));
  if (address === null || typeof address === "string") throw new Error("no port");
  return address.port;
}

function body(req: IncomingMessage): Promise<string> {
  return new Promise((done) => {
    let text = "";
    req.on("data", (chunk) => {
      text += chunk;
    });
    req.on("end", () => done(text));
  });
}

describe("npm run dev", () => {
  let dev: DevServer | undefined;
  const received: Array<{ verified: boolean; type: string }> = [];
  const key = `whsec_${randomBytes(32).toString("base64")}`;
  const receiver = createServer(async (req, res) => {
    const text = await body(req);
    let type = "unverified";
    try {
      const headers = {
        "webhook-id": String(req.headers["webhook-id"]),
        "webhook-timestamp": String(req.headers["webhook-timestamp"]),
        "webhook-signature": String(req.headers["webhook-signature"]),
      };
      type = String((new Webhook(key).verify(text, headers) as { type?: string }).type);
    } catch {
      // counted as unverified
    }
    received.push({ verified: type !== "unverified", type });
    res.writeHead(204).end();
  });

  afterAll(async () => {
    await dev?.stop();
    receiver.close();
  });

  it("gives ADMIN_TOKEN the example value midhook takes only on this machine", () => {
    const example = readFileSync(".dev.vars.example", "utf8");
    expect(example).toContain(`ADMIN_TOKEN="${EXAMPLE_ADMIN_TOKEN}"`);
  });

  it("loads a subscriber key from .dev.vars and delivers with it", async () => {
    await new Promise<void>((done) => receiver.listen(0, "127.0.0.1", done));
    const address = receiver.address();
    if (address === null || typeof address === "string") throw new Error("no port");
    const closed = await closedPort();
    dev = await startDevServer({
      GOAPI_WEBHOOK_SECRET: "dev-goapi-secret",
      ADMIN_TOKEN: "dev-admin-token",
      GALLERY_WEBHOOK_SECRET: key,
      SUBSCRIPTIONS: JSON.stringify([
        {
          id: "gallery",
          url: `http://127.0.0.1:${address.port}/hooks`,
          secret: "env:GALLERY_WEBHOOK_SECRET",
        },
        {
          id: "down",
          url: `http://127.0.0.1:${closed}/hooks`,
          secret: "env:GALLERY_WEBHOOK_SECRET",
        },
      ]),
    });
    const taskId = crypto.randomUUID();
    const answer = await fetch(`${dev.url}/webhooks/goapi`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-webhook-secret": "dev-goapi-secret" },
      body: JSON.stringify({ task_id: taskId, status: "pending", meta: { task_type: "imagine" } }),
    });
    expect(answer.status).toBe(200);
    const deadline = Date.now() + 20_000;
    while (received.length === 0 && Date.now() < deadline) {
      await new Promise((done) => setTimeout(done, 100));
    }
    expect(received, dev.output()).toEqual([{ verified: true, type: "task.created" }]);

    // The other subscriber is not listening: its attempt says so, naming the host.
    const url = `${dev.url}/v1/tasks/${taskId}`;
    const headers = { authorization: "Bearer dev-admin-token" };
    let lastError: string | null = null;
    while (lastError === null && Date.now() < deadline + 10_000) {
      const view = await readView(await fetch(url, { headers }), views.task);
      lastError = view.deliveries.find((d) => d.subscription === "down")?.last_error ?? null;
      if (lastError === null) await new Promise((done) => setTimeout(done, 100));
    }
    expect(lastError).toBe(
      `connection to 127.0.0.1:${closed} refused or dropped before it answered`,
    );
  });

  it("applies the task index's D1 migrations itself: the task list and console work at once", async () => {
    if (dev === undefined) throw new Error("npm run dev did not start");
    const headers = { authorization: "Bearer dev-admin-token" };
    let listed = false;
    const deadline = Date.now() + 15_000;
    while (!listed && Date.now() < deadline) {
      const response = await fetch(`${dev.url}/v1/tasks`, { headers });
      expect(response.status, dev.output()).toBe(200);
      const page = await readView(response, views.taskList);
      listed = page.items.length === 1;
      if (!listed) await new Promise((done) => setTimeout(done, 200));
    }
    expect(listed, dev.output()).toBe(true);
    const home = await fetch(`${dev.url}/`);
    expect(home.status).toBe(200);
    expect(await home.text()).toContain("Sign in to midhook");
  });
});
