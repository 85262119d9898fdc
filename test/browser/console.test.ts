// The console in a real browser (Debian's Chromium), against midhook in the local runtime: an
// operator signs in, looks at the gallery, watches a task progress as GoAPI's webhooks arrive,
// replays a dead letter and deletes a task. Elements are found by role and label, as a person
// using a screen reader would find them.
import { randomUUID } from "node:crypto";
import type { BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { v2Body } from "../../scripts/lib/goapi-payloads";
import { gradientImage } from "../../scripts/lib/local-stack";
import { type ConsoleStack, screenshotPath, startConsoleStack, waitUntil } from "./support/stack";

let stack: ConsoleStack;
let context: BrowserContext;
let page: Page;

const short = (id: string) => id.slice(0, 8);
const PALETTE: Array<[[number, number, number], [number, number, number]]> = [
  [
    [255, 153, 102],
    [255, 94, 98],
  ],
  [
    [86, 204, 242],
    [47, 128, 237],
  ],
  [
    [168, 224, 99],
    [86, 171, 47],
  ],
  [
    [218, 160, 255],
    [120, 75, 220],
  ],
];

type Rgb = [number, number, number];

function colours(i: number): [Rgb, Rgb] {
  return (
    PALETTE[i % PALETTE.length] ?? [
      [0, 0, 0],
      [255, 255, 255],
    ]
  );
}

/** A finished imagine whose grid and four tiles are served by the fake GoAPI image host. */
function finishedImagine(taskId: string, [from, to]: [Rgb, Rgb]) {
  const grid = stack.images.add(`/mj/${taskId}/grid.png`, gradientImage(512, 512, from, to));
  const tiles = [1, 2, 3, 4].map((i) =>
    stack.images.add(
      `/mj/${taskId}/${i}.png`,
      gradientImage(256, 256, i % 2 ? from : to, i % 2 ? to : from),
    ),
  );
  return v2Body(taskId, "finished", { imageUrl: grid, imageUrls: tiles });
}

/** Every image the page shows under `selector` has been fetched and decoded. */
function imagesLoaded(selector: string): Promise<boolean> {
  return page.$$eval(
    selector,
    (images) =>
      images.length > 0 &&
      images.every((image) => image instanceof HTMLImageElement && image.naturalWidth > 0),
  );
}

beforeAll(async () => {
  stack = await startConsoleStack();
  context = await stack.browser.newContext({ viewport: { width: 1280, height: 900 } });
  page = await context.newPage();
});

afterAll(async () => {
  await stack?.stop();
});

describe("the console in Chromium", () => {
  const completed = PALETTE.map(() => randomUUID());

  it("signs in with the admin token, refusing a wrong one, into an HttpOnly session", async () => {
    await page.goto(`${stack.worker.url}/`);
    await page.getByLabel("Admin token").fill("not-the-token");
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("alert").filter({ hasText: "That is not the admin token." }).waitFor();

    // By keyboard alone: the field has the focus, Enter submits.
    await page.getByLabel("Admin token").fill(stack.adminToken);
    await page.keyboard.press("Enter");
    await page.getByRole("heading", { name: "Tasks", level: 1 }).waitFor();
    const session = (await context.cookies()).find((c) => c.name === "midhook_session");
    expect(session).toMatchObject({ httpOnly: true, sameSite: "Strict" });
    expect(session?.value).not.toContain(stack.adminToken);
  });

  it("shows every task in the gallery with its image loaded, and filters by status", async () => {
    const processing = randomUUID();
    const failed = randomUUID();
    await stack.send(v2Body(processing, "processing", { progress: 40 }));
    await stack.send(v2Body(failed, "failed", { errors: ["Banned prompt"] }));
    for (const [i, taskId] of completed.entries()) {
      await stack.send(v2Body(taskId, "processing", { progress: 60 }));
      await stack.send(finishedImagine(taskId, colours(i)));
    }
    const sent = Date.now();
    const cards = page.getByRole("list").getByRole("listitem");
    await waitUntil("the gallery lists every task with its thumbnail", async () => {
      await page.reload();
      return (
        (await cards.count()) === 6 &&
        (await page.getByRole("img", { name: /^Result of imagine task/ }).count()) === 4
      );
    });
    console.log(`gallery listed every task ${Date.now() - sent} ms after the last event`);
    for (const taskId of [...completed, processing, failed]) {
      expect(await page.getByRole("link", { name: new RegExp(short(taskId)) }).count()).toBe(1);
    }
    await waitUntil("every thumbnail loads", () => imagesLoaded(".gallery img"));
    await page.screenshot({ path: screenshotPath("gallery.png"), fullPage: true });

    await page.getByLabel("Status").selectOption("failed");
    await page.getByRole("button", { name: "Show" }).click();
    await page.waitForURL(/status=failed/);
    expect(await cards.count()).toBe(1);
    expect(await page.getByRole("link", { name: new RegExp(short(failed)) }).count()).toBe(1);

    // A narrow window: the gallery reflows, nothing scrolls sideways.
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(`${stack.worker.url}/`);
    const overflow = await page.evaluate(
      () => document.documentElement.scrollWidth - document.documentElement.clientWidth,
    );
    expect(overflow).toBeLessThanOrEqual(0);
    await page.setViewportSize({ width: 1280, height: 900 });
  });

  it("updates a task's page live as webhooks arrive, without a reload, then shows its images", async () => {
    const taskId = randomUUID();
    await stack.send(v2Body(taskId, "pending"));
    await page.goto(`${stack.worker.url}/tasks/${taskId}`);
    await page.getByRole("status").filter({ hasText: "Live" }).waitFor();
    await page.evaluate(() => Reflect.set(window, "sameDocument", true));
    const progress = page.getByRole("progressbar", { name: "Task progress" });

    for (const value of [25, 50, 75]) {
      const sent = Date.now();
      await stack.send(v2Body(taskId, "processing", { progress: value }));
      await expect
        .poll(() => progress.getAttribute("value"), { timeout: 15_000 })
        .toBe(String(value));
      console.log(`progress ${value}% on the page ${Date.now() - sent} ms after its webhook`);
    }
    await stack.send(finishedImagine(taskId, colours(1)));
    // Each image shows once it is stored; the copies run a few at a time, and the page may be
    // drawn between two of them.
    await expect
      .poll(() => page.getByRole("img", { name: /result.* of task/i }).count(), {
        timeout: 15_000,
      })
      .toBe(5);
    expect(await page.getByRole("img", { name: /^Main result of task/ }).count()).toBe(1);
    await waitUntil("the task's images load", () => imagesLoaded("#task-panel img"));
    expect(await page.evaluate(() => Reflect.get(window, "sameDocument"))).toBe(true);

    const timeline = page.getByRole("table").filter({ hasText: "In the order received" });
    expect(await timeline.getByRole("row").count()).toBe(1 + 5);
    expect(await timeline.getByRole("cell", { name: "webhook" }).count()).toBe(5);
    await waitUntil("the deliveries are delivered", async () => {
      await page.waitForTimeout(250);
      return (await page.getByRole("cell", { name: "pending" }).count()) === 0;
    });
    await page.screenshot({ path: screenshotPath("task.png"), fullPage: true });
  });

  it("stops following a task on a page that newer pages replaced, and says so", async () => {
    const taskId = randomUUID();
    await stack.send(v2Body(taskId, "pending"));
    await page.goto(`${stack.worker.url}/tasks/${taskId}`);
    await page.getByRole("status").filter({ hasText: "Live" }).waitFor();
    // 32 newer sockets for the same task, from another tab of the same session.
    const other = await context.newPage();
    await other.goto(`${stack.worker.url}/healthz`);
    const live = `${stack.worker.url.replace(/^http/, "ws")}/tasks/${taskId}/live`;
    await other.evaluate(async (url) => {
      for (let i = 0; i < 32; i++) {
        const socket = new WebSocket(url);
        await new Promise((resolve) => socket.addEventListener("open", resolve));
      }
    }, live);
    await page
      .getByRole("status")
      .filter({ hasText: "open in many other pages" })
      .waitFor({ timeout: 15_000 });
    await other.close();
  });

  it("replays a dead letter once the receiver is back", async () => {
    const taskId = randomUUID();
    await stack.send(v2Body(taskId, "failed", { errors: ["Invalid parameter: --foo"] }));
    const row = page.getByRole("row", { name: new RegExp(short(taskId)) });
    await page.goto(`${stack.worker.url}/dead-letters`);
    await waitUntil("the failed delivery is listed", async () => {
      await page.reload();
      return (await row.count()) === 1;
    });
    expect(await row.getByRole("cell", { name: "archive", exact: true }).count()).toBe(1);
    await page.screenshot({ path: screenshotPath("dead-letters.png"), fullPage: true });

    stack.archive.setDown(false);
    await row.getByRole("button", { name: /^Replay/ }).click();
    await page.getByRole("status").filter({ hasText: "Replay started" }).waitFor();
    expect(await row.count()).toBe(0);
    await waitUntil("the archive receiver gets the replayed event", async () =>
      stack.archive.events.some((e) => e.taskId === taskId && e.verified),
    );
  });

  it("shows a paused subscription and resumes it", async () => {
    await page.getByRole("link", { name: "Subscriptions" }).click();
    const row = page.getByRole("row", { name: /mirror/ });
    await waitUntil("the mirror subscription is paused", async () => {
      await page.reload();
      return (await row.getByRole("cell", { name: "paused", exact: true }).count()) === 1;
    });
    await page.screenshot({ path: screenshotPath("subscriptions.png"), fullPage: true });
    await row.getByRole("button", { name: /^Resume/ }).click();
    await page.getByRole("status").filter({ hasText: "Resumed" }).waitFor();
  });

  it("deletes a task: gone from the gallery, its images and its page", async () => {
    const taskId = completed[0] ?? "";
    await page.goto(`${stack.worker.url}/tasks/${taskId}`);
    page.once("dialog", (dialog) => void dialog.accept());
    await page.getByRole("button", { name: "Delete" }).click();
    await page.waitForURL(/notice=deleted/);
    await page.getByRole("status").filter({ hasText: "The task was deleted" }).waitFor();
    expect(await page.getByRole("link", { name: new RegExp(short(taskId)) }).count()).toBe(0);
    const image = await fetch(`${stack.worker.url}/images/${taskId}/main.png`);
    expect(image.status).toBe(404);
    const view = await fetch(`${stack.worker.url}/v1/tasks/${taskId}`, {
      headers: { authorization: `Bearer ${stack.adminToken}` },
    });
    expect(view.status).toBe(404);
  });

  it("a task page that missed the deletion notice learns of it before reconnecting", async () => {
    const taskId = randomUUID();
    await stack.send(v2Body(taskId, "pending"));
    const other = await context.newPage();
    // The page's sockets go through here, and this one loses the notice: as a page whose
    // connection dropped just before the task was deleted.
    let sockets = 0;
    await other.routeWebSocket(/\/live$/, (socket) => {
      sockets += 1;
      const server = socket.connectToServer();
      server.onMessage((message) => {
        if (!String(message).includes('"deleted"')) socket.send(message);
      });
    });
    await other.goto(`${stack.worker.url}/tasks/${taskId}`);
    await other.getByRole("status").filter({ hasText: "Live" }).waitFor();

    const erased = await fetch(`${stack.worker.url}/v1/tasks/${taskId}`, {
      method: "DELETE",
      headers: { authorization: `Bearer ${stack.adminToken}` },
    });
    expect(erased.status).toBe(204);
    await other
      .getByRole("status")
      .filter({ hasText: "This task has been deleted." })
      .waitFor({ timeout: 15_000 });
    expect(await other.getByRole("button", { name: "Delete" }).isDisabled()).toBe(true);
    // It stops following: no other socket is opened (a retry would come after a second).
    await other.waitForTimeout(2500);
    expect(sockets).toBe(1);
    await other.close();
  });

  it("signs out: a task page left open in another tab says its session has ended", async () => {
    const taskId = randomUUID();
    await stack.send(v2Body(taskId, "pending"));
    const other = await context.newPage();
    const sockets = { opened: 0, closed: 0 };
    other.on("websocket", (socket) => {
      sockets.opened += 1;
      socket.on("close", () => {
        sockets.closed += 1;
      });
    });
    await other.goto(`${stack.worker.url}/tasks/${taskId}`);
    await other.getByRole("status").filter({ hasText: "Live" }).waitFor();

    await page.getByRole("button", { name: "Sign out" }).click();
    await page.getByRole("button", { name: "Sign in" }).waitFor();
    await page.getByRole("status").filter({ hasText: "Signed out." }).waitFor();
    await page.goto(`${stack.worker.url}/dead-letters`);
    await page.getByLabel("Admin token").waitFor();

    await stack.send(v2Body(taskId, "processing", { progress: 50 }));
    await other
      .getByRole("status")
      .filter({ hasText: "Your session has ended" })
      .waitFor({ timeout: 15_000 });
    const progress = other.getByRole("progressbar", { name: "Task progress" });
    expect(await progress.getAttribute("value")).toBe("0");
    // It stops following: its socket closes, and it does not try again (the first retry would
    // come after a second).
    await waitUntil("the page closes its socket", async () => sockets.closed === sockets.opened);
    await other.waitForTimeout(2500);
    expect(sockets).toEqual({ opened: 1, closed: 1 });
    await other.close();
  });
});
