import {
  createExecutionContext,
  createMessageBatch,
  getQueueResult,
  runDurableObjectAlarm,
  runInDurableObject,
} from "cloudflare:test";
import { env } from "cloudflare:workers";
import { Webhook } from "standardwebhooks";
import { describe, expect, it, vi } from "vitest";
import { taskObject } from "../src/bindings";
import type { DeliveryView } from "../src/contract";
import type { EventType } from "../src/goapi/events";
import worker from "../src/index";
import { overrideEnv } from "./support/env";
import { clone, fixtures, v2Event } from "./support/fixtures";
import { ALL_KEY, GALLERY_KEY, SECRET } from "./support/keys";
import {
  deliveries,
  eventually,
  pngBytes,
  type Received,
  serveImage,
  subscriberAnswers,
} from "./support/network";
import { quietTask } from "./support/quiet-task";
import {
  adminPost,
  deadLetterPage,
  ingest,
  newTaskId,
  postWebhook,
  taskView,
} from "./support/requests";

function verify(received: Received, secret: string): unknown {
  return new Webhook(secret).verify(received.body, received.headers);
}

function completedWithImage(taskId: string, taskType = "imagine") {
  const body = clone(fixtures.v2Finished);
  body.task_id = taskId;
  body.meta.task_type = taskType;
  body.task_result.image_url = serveImage(
    `/${taskId}/main.png`,
    () => new Response(pngBytes(256), { headers: { "content-type": "image/png" } }),
  );
  return body;
}

/** The delivery of the task's event of `type` to `subscription`, once `accept` says so. */
async function deliveryWhen(
  taskId: string,
  subscription: string,
  accept: (delivery: DeliveryView) => boolean,
  type?: EventType,
): Promise<DeliveryView> {
  return eventually(async () => {
    const view = await taskView(taskId);
    const event = type === undefined ? undefined : view.events.find((e) => e.type === type);
    const delivery = view.deliveries.find(
      (d) => d.subscription === subscription && (event === undefined || d.event === event.id),
    );
    return delivery && accept(delivery) ? delivery : undefined;
  });
}

/** The delivery once it is delivered or failed. */
function settledDelivery(taskId: string, subscription: string, type: EventType) {
  return deliveryWhen(taskId, subscription, (d) => d.state !== "pending", type);
}

describe("forwarding", () => {
  it("signs every delivery so the standardwebhooks library verifies it", async () => {
    const taskId = newTaskId();
    const { event } = await ingest(v2Event(taskId, "pending", 0));
    const received = await eventually(() => deliveries(taskId).find((d) => d.path === "/all"));
    expect(verify(received, ALL_KEY)).toMatchObject({ id: event, type: "task.created" });
    expect(received.headers["webhook-id"]).toBe(event);
    expect(received.headers["user-agent"]).toMatch(/^midhook\/\d+\.\d+\.\d+$/);
    expect(received.headers["content-type"]).toBe("application/json");
    expect(() => verify(received, GALLERY_KEY)).toThrow();
    const tampered = { ...received, body: received.body.replace("task.created", "task.failed") };
    expect(() => verify(tampered, ALL_KEY)).toThrow();
  });

  it("sends the midhook format with the event's fields and GoAPI's payload without secrets", async () => {
    const taskId = newTaskId();
    const body = clone(fixtures.v1Completed);
    body.data.task_id = taskId;
    body.data.output.image_url = "";
    body.data.output.temporary_image_urls = [];
    await postWebhook(body);
    const received = await eventually(() => deliveries(taskId).find((d) => d.path === "/all"));
    const event = JSON.parse(received.body);
    expect(event).toMatchObject({
      id: expect.stringMatching(/^evt_/),
      type: "task.completed",
      created_at: expect.stringMatching(/Z$/),
      data: {
        task_id: taskId,
        task_type: "imagine",
        status: "completed",
        progress: 100,
        images: [],
        description: null,
        seed: null,
        error: null,
        model: "midjourney",
        actions: expect.arrayContaining(["upscale1"]),
      },
    });
    expect(event.data.goapi.data.config.webhook_config).toEqual({
      endpoint: "https://example.com/webhooks/goapi",
    });
    expect(received.body).not.toContain("s3cr3t-from-request");
    expect(received.body).not.toContain(SECRET);
  });

  it("delivers at once an event that comes while the alarm waits for a later poll", async () => {
    const subscriptions = String(env.SUBSCRIPTIONS);
    overrideEnv({ SUBSCRIPTIONS: "[]" });
    const taskId = newTaskId();
    await ingest(v2Event(taskId, "processing", 10));
    expect(await quietTask(taskId)).toBeGreaterThan(Date.now() + 5 * 60_000);
    Reflect.set(env, "SUBSCRIPTIONS", subscriptions);
    await ingest(v2Event(taskId, "processing", 60));
    const sent = await eventually(() => {
      const to = deliveries(taskId).filter((d) => d.path === "/all");
      return to.length > 0 ? to : undefined;
    });
    expect(JSON.parse(sent[0]?.body ?? "{}")).toMatchObject({
      type: "task.progress",
      data: { progress: 60 },
    });
  });

  it("filters by event type and task type", async () => {
    const imagine = newTaskId();
    const describeTask = newTaskId();
    await postWebhook(v2Event(imagine, "processing", 10));
    await postWebhook(completedWithImage(imagine));
    await postWebhook(completedWithImage(describeTask, "describe"));
    await eventually(() =>
      deliveries(imagine).filter((d) => d.path === "/gallery").length === 1 ? true : undefined,
    );
    await eventually(() =>
      deliveries(describeTask).some((d) => d.path === "/all") ? true : undefined,
    );
    const types = (task: string, path: string) =>
      deliveries(task)
        .filter((d) => d.path === path)
        .map((d) => JSON.parse(d.body).type ?? "goapi-shape");
    expect(types(imagine, "/all").sort()).toEqual(["task.completed", "task.progress"]);
    expect(deliveries(imagine).filter((d) => d.path === "/gallery")).toHaveLength(1);
    expect(deliveries(describeTask).filter((d) => d.path === "/gallery")).toHaveLength(0);
  });

  it("sends the goapi format with archived image URLs, the subscription's secret and headers", async () => {
    const taskId = newTaskId();
    await postWebhook(completedWithImage(taskId));
    const received = await eventually(() => deliveries(taskId).find((d) => d.path === "/gallery"));
    expect(verify(received, GALLERY_KEY)).toBeTruthy();
    const body = JSON.parse(received.body);
    expect(body.task_id).toBe(taskId);
    expect(body.status).toBe("finished");
    expect(body.task_result.image_url).toBe(`https://midhook.test/images/${taskId}/main.png`);
    expect(received.headers["x-webhook-secret"]).toBe(GALLERY_KEY);
    expect(received.headers["x-team"]).toBe("art");
    expect(received.body).not.toContain(SECRET);
  });

  it("retries a failed attempt through the queue with the same webhook-id, then succeeds", async () => {
    const taskId = newTaskId();
    subscriberAnswers(taskId, (n) => new Response("later", { status: n === 1 ? 500 : 200 }));
    await postWebhook(v2Event(taskId, "processing", 20));
    const delivery = await settledDelivery(taskId, "all", "task.progress");
    expect(delivery).toMatchObject({ state: "delivered", attempts: 2, last_status: 200 });
    const sent = deliveries(taskId).filter((d) => d.path === "/all");
    expect(sent).toHaveLength(2);
    expect(sent[0]?.headers["webhook-id"]).toBe(sent[1]?.headers["webhook-id"]);
    expect((sent[1]?.at ?? 0) - (sent[0]?.at ?? 0)).toBeGreaterThanOrEqual(3500);
  });

  it("honours Retry-After when scheduling the next attempt", async () => {
    const taskId = newTaskId();
    subscriberAnswers(
      taskId,
      () => new Response("slow down", { status: 429, headers: { "retry-after": "600" } }),
    );
    const before = Date.now();
    await postWebhook(v2Event(taskId, "pending", 0));
    const delivery = await deliveryWhen(taskId, "all", (d) => d.attempts === 1);
    expect(delivery).toMatchObject({ state: "pending", last_status: 429, last_error: "HTTP 429" });
    expect(Date.parse(delivery.next_attempt_at ?? "") - before).toBeGreaterThanOrEqual(600_000);
  });

  it("stops at 410 Gone, lists the dead letter, and replays it with the same webhook-id", async () => {
    const taskId = newTaskId();
    let gone = true;
    subscriberAnswers(taskId, () => new Response(null, { status: gone ? 410 : 204 }));
    await postWebhook(v2Event(taskId, "pending", 0));
    expect(await settledDelivery(taskId, "all", "task.created")).toMatchObject({
      state: "failed",
      attempts: 1,
      last_status: 410,
    });

    const listed = await eventually(async () =>
      (await deadLetterPage()).items.find((i) => i.task_id === taskId),
    );
    expect(listed).toMatchObject({
      subscription: "all",
      attempts: 1,
      last_status: 410,
      failed_at: expect.any(String),
    });

    gone = false;
    const replay = await adminPost(`/v1/dead-letters/${listed.id}/replay`);
    expect(replay.status).toBe(200);
    const delivered = await deliveryWhen(taskId, "all", (d) => d.state === "delivered");
    expect(delivered).toMatchObject({ attempts: 1, last_status: 204 });
    const sent = deliveries(taskId).filter((d) => d.path === "/all");
    expect(sent).toHaveLength(2);
    expect(new Set(sent.map((d) => d.headers["webhook-id"])).size).toBe(1);
    expect((await deadLetterPage()).items.some((i) => i.id === listed.id)).toBe(false);
  });

  it("dead-letters a delivery after max_attempts, driven through the consumer", async () => {
    const taskId = newTaskId();
    subscriberAnswers(taskId, () => new Response("down", { status: 503 }));
    await postWebhook(completedWithImage(taskId));
    const first = await deliveryWhen(taskId, "gallery", (d) => d.attempts === 1);
    const message = { task_id: taskId, event: first.event, subscription: "gallery", series: 1 };
    for (const attempt of [2, 3]) {
      // The queue offers the message again once its retry delay has passed.
      await runInDurableObject(taskObject(env, taskId), (_, state) => {
        state.storage.sql.exec("UPDATE deliveries SET next_attempt_at = ?", Date.now());
      });
      const batch = createMessageBatch("midhook-deliveries", [
        { id: `m${attempt}`, timestamp: new Date(), attempts: attempt, body: message },
      ]);
      const ctx = createExecutionContext();
      await worker.queue(batch, env);
      const result = await getQueueResult(batch, ctx);
      if (attempt === 2) {
        expect(result.retryMessages).toEqual([{ msgId: "m2" }]);
        const view = await taskView(taskId);
        const d = view.deliveries.find((x) => x.subscription === "gallery");
        // the second failure waits the second step of the schedule, about 30 s
        expect(Date.parse(d?.next_attempt_at ?? "") - Date.now()).toBeGreaterThan(20_000);
      } else expect(result.explicitAcks).toEqual(["m3"]);
    }
    expect(await settledDelivery(taskId, "gallery", "task.completed")).toMatchObject({
      state: "failed",
      attempts: 3,
    });
    await eventually(async () =>
      (await deadLetterPage()).items.find(
        (i) => i.task_id === taskId && i.subscription === "gallery",
      ),
    );
  });

  it.each(["its alarm a minute later", "POST /v1/tasks/{id}/redeliver"])(
    "keeps the event when SUBSCRIPTIONS is broken and delivers it once fixed, through %s",
    async (recovery) => {
      const taskId = newTaskId();
      const stub = taskObject(env, taskId);
      const good = env.SUBSCRIPTIONS;
      const errors = vi.spyOn(console, "error").mockImplementation(() => {});
      overrideEnv({ SUBSCRIPTIONS: '[{"id":"x","url":"ftp://nope"}]' });
      expect((await postWebhook(v2Event(taskId, "processing", 5))).status).toBe(200);
      expect(errors.mock.calls.some((c) => String(c[0]).includes("SUBSCRIPTIONS"))).toBe(true);
      expect((await taskView(taskId)).deliveries).toEqual([
        expect.objectContaining({
          subscription: null,
          state: "pending",
          waiting_for: expect.stringContaining("config: subscriptions[0] (x).url"),
        }),
      ]);
      // Once the task's index row is written (a second after the event), the object waits a
      // minute before it reads the config again.
      const alarm = await eventually(async () => {
        const at = await runInDurableObject(stub, (_, state) => state.storage.getAlarm());
        return at !== null && at - Date.now() > 30_000 ? at : undefined;
      });
      expect(alarm - Date.now()).toBeGreaterThan(30_000);
      env.SUBSCRIPTIONS = good;
      if (recovery.startsWith("POST")) {
        expect((await adminPost(`/v1/tasks/${taskId}/redeliver`)).status).toBe(200);
      } else {
        expect(await runDurableObjectAlarm(stub)).toBe(true);
      }
      const sent = await eventually(() => deliveries(taskId).find((d) => d.path === "/all"));
      expect(JSON.parse(sent.body)).toMatchObject({ type: "task.progress", data: { progress: 5 } });
    },
  );

  it("redelivers a task's events on request", async () => {
    const taskId = newTaskId();
    await postWebhook(v2Event(taskId, "pending", 0));
    await eventually(() => deliveries(taskId).find((d) => d.path === "/all"));
    const response = await adminPost(`/v1/tasks/${taskId}/redeliver`, { subscription: "all" });
    expect(response.status).toBe(200);
    const sent = await eventually(() => {
      const all = deliveries(taskId).filter((d) => d.path === "/all");
      return all.length === 2 ? all : undefined;
    });
    expect(sent[0]?.headers["webhook-id"]).toBe(sent[1]?.headers["webhook-id"]);
    expect((await adminPost("/v1/tasks/never-seen/redeliver")).status).toBe(404);
    const unknown = await adminPost(`/v1/tasks/${taskId}/redeliver`, { subscription: "nope" });
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toEqual({
      error: { code: "not_found", message: 'no subscription "nope" in SUBSCRIPTIONS' },
    });
  });
});

describe("lost queue messages", () => {
  it("re-sends a delivery whose queue message never arrived, in a new series", async () => {
    const warnings = vi.spyOn(console, "warn").mockImplementation(() => {});
    const taskId = newTaskId();
    await postWebhook(v2Event(taskId, "pending", 0));
    await eventually(() => deliveries(taskId).find((d) => d.path === "/all"));
    const stub = taskObject(env, taskId);
    // As if the message had been queued an hour ago and lost (a `wrangler dev` restart).
    await runInDurableObject(stub, (_, state) => {
      state.storage.sql.exec(
        "UPDATE deliveries SET state = 'pending', enqueued = 1, attempts = 0, next_attempt_at = ?, finished_at = NULL",
        Date.now() - 3_600_000,
      );
      return state.storage.setAlarm(Date.now() + 60_000);
    });
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    const sent = await eventually(() => {
      const all = deliveries(taskId).filter((d) => d.path === "/all");
      return all.length === 2 ? all : undefined;
    });
    expect(sent[1]?.headers["webhook-id"]).toBe(sent[0]?.headers["webhook-id"]);
    const series = await runInDurableObject(stub, (_, state) =>
      state.storage.sql
        .exec<{ series: number; state: string }>(
          "SELECT series, state FROM deliveries WHERE subscription = 'all'",
        )
        .one(),
    );
    expect(series).toEqual({ series: 2, state: "delivered" });
    // Said, so that a queue backed up for minutes (re-sent, never failed for it) is seen.
    expect(warnings.mock.calls.map(([line]) => String(line))).toContainEqual(
      `task ${taskId}: 1 queued delivery had no attempt 3 minutes after it was due; sent again (a lost message, or a queue backed up that long)`,
    );
  });
});
