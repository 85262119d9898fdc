// What the browser tests run against: midhook in the local runtime (its D1 migrations applied
// by startWorker, as `npm run dev` applies them), a fake GoAPI image host, three downstream
// receivers (two of them down at first), and Debian's Chromium driven by playwright-core.
import { randomBytes } from "node:crypto";
import { mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { type Browser, chromium } from "playwright-core";
import {
  type ImageHost,
  type LocalWorker,
  type Receiver,
  removeState,
  sendLikeGoapi,
  sleep,
  startImageHost,
  startReceiver,
  startWorker,
} from "../../../scripts/lib/local-stack";
import { CHROMIUM } from "./chromium";

const ROOT = resolve(import.meta.dirname, "../../..");

export interface ConsoleStack {
  worker: LocalWorker;
  images: ImageHost;
  /** Subscription "gallery": every event. */
  receiver: Receiver;
  /** Subscription "archive": failed tasks only, one attempt each; starts down. */
  archive: Receiver;
  /** Subscription "mirror": failed tasks only, paused after one failure; down throughout. */
  mirror: Receiver;
  adminToken: string;
  browser: Browser;
  /** Posts a webhook as GoAPI does, failing unless it was answered 200. */
  send: (body: unknown) => Promise<void>;
  stop: () => Promise<void>;
}

export async function startConsoleStack(): Promise<ConsoleStack> {
  const secret = `browser-goapi-${randomBytes(6).toString("hex")}`;
  const adminToken = `browser-admin-${randomBytes(6).toString("hex")}`;
  const key = `whsec_${randomBytes(24).toString("base64")}`;
  const images = await startImageHost();
  const receiver = await startReceiver(key);
  const archive = await startReceiver(key);
  archive.setDown(true);
  const mirror = await startReceiver(key);
  mirror.setDown(true);
  const stopped: Array<() => Promise<unknown>> = [
    images.stop,
    receiver.stop,
    archive.stop,
    mirror.stop,
  ];
  try {
    const worker = await startWorker({
      vars: {
        GOAPI_WEBHOOK_SECRET: secret,
        ADMIN_TOKEN: adminToken,
        IMAGE_HOSTS: images.host,
        RECEIVER_KEY: key,
        SUBSCRIPTIONS: JSON.stringify([
          { id: "gallery", url: receiver.url, secret: "env:RECEIVER_KEY", events: EVERY_EVENT },
          {
            id: "archive",
            url: archive.url,
            secret: "env:RECEIVER_KEY",
            events: ["task.failed"],
            max_attempts: 1,
          },
          {
            id: "mirror",
            url: mirror.url,
            secret: "env:RECEIVER_KEY",
            events: ["task.failed"],
            pause_after_failures: 1,
          },
        ]),
      },
    });
    stopped.unshift(async () => {
      await worker.stop();
      removeState(worker.stateDir);
    });
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      // Without the background-networking flags Chromium keeps calling out to the network.
      args: [
        "--no-sandbox",
        "--headless",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
      ],
    });
    stopped.unshift(() => browser.close());
    const send = async (body: unknown) => {
      const answer = await sendLikeGoapi(worker.url, secret, body, 0);
      if (answer.status !== 200) throw new Error(`webhook answered ${answer.status}`);
    };
    const stop = async () => {
      for (const step of stopped) await step().catch(() => {});
    };
    return { worker, images, receiver, archive, mirror, adminToken, browser, send, stop };
  } catch (err) {
    for (const step of stopped) await step().catch(() => {});
    throw err;
  }
}

const EVERY_EVENT = ["task.created", "task.progress", "task.completed", "task.failed"];

/** Polls `check` until it returns true, or fails saying `what` after `ms`. */
export async function waitUntil(
  what: string,
  check: () => Promise<boolean>,
  ms = 30_000,
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms / 1000} s`);
    await sleep(200);
  }
}

/**
 * Where a screenshot goes: the README's docs/screenshots/ with UPDATE_SCREENSHOTS=1, else
 * test/browser/artifacts/ (ignored by git).
 */
export function screenshotPath(name: string): string {
  const dir = process.env.UPDATE_SCREENSHOTS
    ? join(ROOT, "docs/screenshots")
    : join(ROOT, "test/browser/artifacts");
  mkdirSync(dir, { recursive: true });
  return join(dir, name);
}
