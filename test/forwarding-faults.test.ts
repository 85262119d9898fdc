// Forwarding when things go wrong: a Queues outage, a broken config, a Durable Object that cannot
// be reached, late or repeated queue messages. Every event answered 200 must end delivered or
// listed as a dead letter, never stuck.
import {
  createExecutionContext,
  createMessageBatch,
  getQueueResult,
  runDurableObjectAlarm,
  runInDurableObject,
} from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { taskObject } from "../src/bindings";
import type { DeliveryMessage, DeliveryView } from "../src/contract";
import worker from "../src/index";
import { forgetHealth } from "../src/subscribers/health-client";
import { runAlarmNow } from "./support/alarm";
import { overrideEnv } from "./support/env";
import { clone, fixtures, v2Event } from "./support/fixtures";
import { deliveries, eventually, serveImage, subscriberAnswers } from "./support/network";
import { adminPost, deadLetterPage, ingest, newTaskId, taskView } from "./support/requests";

/**
 * Runs the Worker's queue handler on one message and returns what it did with it. The same `id`
 * again is the queue offering that message again.
 */
async function consume(
  queue: string,
  body: unknown,
  attempts = 1,
  id = `m-${crypto.randomUUID()}`,
) {
  const batch = createMessageBatch(queue, [{ id, timestamp: new Date(), attempts, body }]);
  const message = batch.messages[0];
  if (!message) throw new Error("no message");
  const retry = vi.spyOn(message, "retry");
  const ctx = createExecutionContext();
  await worker.queue(batch, env);
  const result = await getQueueResult(batch, ctx);
  return {
    acked: result.explicitAcks.includes(message.id),
    retried: result.retryMessages.some((m: { msgId: string }) => m.msgId === message.id),
    delaySeconds: retry.mock.calls[0]?.[0]?.delaySeconds,
  };
}

async function deliveryTo(taskId: string, subscription: string): Promise<DeliveryView> {
  return eventually(async () =>
    (await taskView(taskId)).deliveries.find((d) => d.subscription === subscription),
  );
}

async function deliveryWhenSettled(taskId: string, subscription: string): Promise<DeliveryView> {
  return eventually(async () => {
    const delivery = await deliveryTo(taskId, subscription);
    return delivery.state === "pending" ? undefined : delivery;
  });
}

/**
 * A new task's delivery to "all", delivered and recorded (nothing of that attempt is still on
 * its way), then made pending again as if its series' message were queued: that message, for
 * the test to hand to the consumer.
 */
async function queuedAgain(): Promise<{ taskId: string; message: DeliveryMessage }> {
  const taskId = newTaskId();
  const { event } = await ingest(v2Event(taskId, "pending", 0));
  await deliveryWhenSettled(taskId, "all");
  await runInDurableObject(taskObject(env, taskId), (_, state) => {
    state.storage.sql.exec(
      "UPDATE deliveries SET state = 'pending', enqueued = 1, attempts = 0, finished_at = NULL WHERE subscription = 'all'",
    );
  });
  return { taskId, message: { task_id: taskId, event, subscription: "all", series: 1 } };
}

/** The subscription's health cannot be read: an attempt fails after it took the lease. */
function healthUnreadable() {
  forgetHealth("all");
  return vi.spyOn(env.SUBSCRIBERS, "getByName").mockImplementation(() => {
    throw new Error("Durable Object is overloaded");
  });
}

async function rows(taskId: string) {
  return runInDurableObject(taskObject(env, taskId), (_, state) =>
    state.storage.sql
      .exec<{ series: number; enqueued: number; state: string; attempts: number }>(
        "SELECT series, enqueued, state, attempts FROM deliveries WHERE subscription = 'all'",
      )
      .one(),
  );
}

describe("a task's alarm", () => {
  it("keeps itself scheduled while the queue refuses sends, then delivers everything once", async () => {
    vi.spyOn(console, "error").mockImplementation(() => {});
    const taskId = newTaskId();
    const stub = taskObject(env, taskId);
    const outage = vi
      .spyOn(env.DELIVERY_QUEUE, "sendBatch")
      .mockRejectedValue(new Error("Queues is unavailable"));
    await ingest(v2Event(taskId, "pending", 0));
    for (let run = 0; run < 3; run++) {
      await runInDurableObject(stub, (_, state) => state.storage.setAlarm(Date.now()));
      await runDurableObjectAlarm(stub).catch(() => {});
      // The alarm, due now, may have fired on its own just before: then its run may still be
      // starting, with no alarm set for a moment. What counts is that one is set after it.
      const alarm = await eventually(
        () =>
          runInDurableObject(stub, (_, state) => state.storage.getAlarm()).then(
            (a) => a ?? undefined,
          ),
        3_000,
      ).catch(() => null);
      expect(alarm, `alarm after failing run ${run + 1}`).not.toBeNull();
    }
    expect(outage).toHaveBeenCalled();
    expect(deliveries(taskId)).toEqual([]);
    outage.mockRestore();
    await runAlarmNow(stub);
    await deliveryWhenSettled(taskId, "all");
    const sent = deliveries(taskId).filter((d) => d.path === "/all");
    expect(sent).toHaveLength(1);
    expect((await deliveryTo(taskId, "all")).state).toBe("delivered");
  });
});

describe("a task's alarm, when one part keeps failing", () => {
  it("holds back only that part: a new event's delivery goes out while the dead-letter list is down", async () => {
    const errors = vi.spyOn(console, "error").mockImplementation(() => {});
    vi.spyOn(env.DEAD_LETTER_LOG, "getByName").mockImplementation(() => {
      throw new Error("the list is unavailable");
    });
    const taskId = newTaskId();
    const stub = taskObject(env, taskId);
    let answers = 0;
    subscriberAnswers(taskId, () => new Response(null, { status: answers++ === 0 ? 410 : 200 }));
    await ingest(v2Event(taskId, "pending", 0));
    expect((await deliveryWhenSettled(taskId, "all")).state).toBe("failed");
    for (let run = 0; run < 3; run++) {
      await runAlarmNow(stub);
    }
    const listingFailures = errors.mock.calls.filter((call) =>
      String(call[0]).includes("updating the dead-letter list failed"),
    );
    expect(listingFailures.length).toBeGreaterThanOrEqual(3);

    // Its alarm is not held back by the list's backoff (20 s by now): it goes out at once.
    await ingest(v2Event(taskId, "processing", 20));
    await eventually(
      () => (deliveries(taskId).filter((d) => d.path === "/all").length === 2 ? true : undefined),
      5_000,
    );
  });
});

describe("dead letters", () => {
  it("ignores a dead-letter message from an older attempt series", async () => {
    vi.spyOn(console, "error").mockImplementation(() => {});
    const taskId = newTaskId();
    subscriberAnswers(taskId, () => new Response("down", { status: 503 }));
    const { event } = await ingest(v2Event(taskId, "pending", 0));
    await eventually(async () =>
      (await deliveryTo(taskId, "all")).attempts === 1 ? true : undefined,
    );
    expect((await adminPost(`/v1/tasks/${taskId}/redeliver`, { subscription: "all" })).status).toBe(
      200,
    );
    const late: DeliveryMessage = { task_id: taskId, event, subscription: "all", series: 1 };
    expect(await consume("midhook-dead-letters", late)).toMatchObject({ acked: true });
    expect(await rows(taskId)).toMatchObject({ series: 2, state: "pending" });
    const listed = (await deadLetterPage()).items.filter((i) => i.task_id === taskId);
    expect(listed).toEqual([]);
  });

  it("lists a failed delivery even when the list refuses it several times", async () => {
    vi.spyOn(console, "error").mockImplementation(() => {});
    const getByName = env.DEAD_LETTER_LOG.getByName.bind(env.DEAD_LETTER_LOG);
    let refusals = 4;
    vi.spyOn(env.DEAD_LETTER_LOG, "getByName").mockImplementation((name) => {
      const log = getByName(name);
      return new Proxy(log, {
        get: (target, key) =>
          key === "add" && refusals-- > 0
            ? () => Promise.reject(new Error("the list is unavailable"))
            : Reflect.get(target, key),
      });
    });
    const taskId = newTaskId();
    subscriberAnswers(taskId, () => new Response(null, { status: 410 }));
    await ingest(v2Event(taskId, "pending", 0));
    expect((await deliveryWhenSettled(taskId, "all")).state).toBe("failed");
    const stub = taskObject(env, taskId);
    const listed = async () => (await deadLetterPage()).items.find((i) => i.task_id === taskId);
    for (let run = 0; run < 8 && (await listed()) === undefined; run++) {
      await runAlarmNow(stub);
    }
    expect(refusals).toBeLessThan(0);
    expect(await listed()).toMatchObject({ subscription: "all", last_status: 410 });
  });
});

describe("the delivery consumer", () => {
  it("hands a message back to its task while SUBSCRIPTIONS is invalid, instead of retrying it", async () => {
    vi.spyOn(console, "error").mockImplementation(() => {});
    const taskId = newTaskId();
    const { event } = await ingest(v2Event(taskId, "pending", 0));
    // The first delivery recorded as done (not only received), so that nothing changes the row
    // after it is put back in the queue below.
    await eventually(async () =>
      (await deliveryTo(taskId, "all")).state === "delivered" ? true : undefined,
    );
    await runInDurableObject(taskObject(env, taskId), (_, state) => {
      state.storage.sql.exec(
        "UPDATE deliveries SET state = 'pending', enqueued = 1, attempts = 0, finished_at = NULL",
      );
    });
    const good = env.SUBSCRIPTIONS;
    overrideEnv({ SUBSCRIPTIONS: '[{"id":"x","url":"ftp://nope"}]' });
    const message: DeliveryMessage = { task_id: taskId, event, subscription: "all", series: 1 };
    expect(await consume("midhook-deliveries", message)).toMatchObject({
      acked: true,
      retried: false,
    });
    const held = await deliveryTo(taskId, "all");
    expect(held.state).toBe("pending");
    expect(held.last_error).toContain("SUBSCRIPTIONS");
    env.SUBSCRIPTIONS = good;
    const stub = taskObject(env, taskId);
    await runAlarmNow(stub);
    await eventually(() => (deliveries(taskId).length === 2 ? true : undefined));
    expect((await deliveryTo(taskId, "all")).state).toBe("delivered");
  });

  it("backs off by the message's attempts when its task cannot be reached", async () => {
    vi.spyOn(console, "error").mockImplementation(() => {});
    vi.spyOn(env.TASKS, "getByName").mockImplementation(() => {
      throw new Error("Durable Object is overloaded");
    });
    const message: DeliveryMessage = {
      task_id: newTaskId(),
      event: "evt_x",
      subscription: "all",
      series: 1,
    };
    const delays: number[] = [];
    for (const attempts of [1, 2, 5, 40]) {
      const result = await consume("midhook-deliveries", message, attempts);
      expect(result.retried).toBe(true);
      delays.push(result.delaySeconds ?? 0);
    }
    expect(delays[0]).toBeGreaterThanOrEqual(5);
    expect(delays).toEqual([...delays].sort((a, b) => a - b));
    expect(delays[3]).toBeGreaterThanOrEqual(600);
  });

  it("retries a repeated message for an attempt not yet due with the time that remains", async () => {
    vi.spyOn(console, "error").mockImplementation(() => {});
    const taskId = newTaskId();
    subscriberAnswers(taskId, () => new Response("down", { status: 503 }));
    const { event } = await ingest(v2Event(taskId, "pending", 0));
    const failed = await eventually(async () => {
      const d = await deliveryTo(taskId, "all");
      return d.attempts === 1 ? d : undefined;
    });
    const due = Date.parse(failed.next_attempt_at ?? "");
    const before = deliveries(taskId).length;
    const message: DeliveryMessage = { task_id: taskId, event, subscription: "all", series: 1 };
    const result = await consume("midhook-deliveries", message, 1);
    expect(result.retried).toBe(true);
    expect(result.delaySeconds).toBeGreaterThanOrEqual(1);
    expect((result.delaySeconds ?? 0) * 1000).toBeLessThanOrEqual(due - Date.now() + 1500);
    expect(deliveries(taskId)).toHaveLength(before);
    expect((await deliveryTo(taskId, "all")).attempts).toBe(1);
  });

  it("attempts again a message whose attempt failed after taking the lease, and drops only duplicates", async () => {
    vi.spyOn(console, "error").mockImplementation(() => {});
    const { taskId, message } = await queuedAgain();
    const unreachable = healthUnreadable();
    const id = `m-${crypto.randomUUID()}`;
    expect(await consume("midhook-deliveries", message, 1, id)).toMatchObject({ retried: true });
    // The queue offers it again while the lease still runs: attempted again, not dropped, so
    // that a failure that keeps coming ends in the dead-letter queue.
    expect(await consume("midhook-deliveries", message, 2, id)).toMatchObject({
      acked: false,
      retried: true,
    });
    // Another message of the same series while the lease is held is a duplicate: dropped. So is
    // the same message handed over twice at once (the same delivery of it, by its attempts).
    expect(await consume("midhook-deliveries", message, 1)).toMatchObject({
      acked: true,
      retried: false,
    });
    expect(await consume("midhook-deliveries", message, 2, id)).toMatchObject({
      acked: true,
      retried: false,
    });
    unreachable.mockRestore();
    expect(await consume("midhook-deliveries", message, 3, id)).toMatchObject({ acked: true });
    expect(await deliveryTo(taskId, "all")).toMatchObject({ state: "delivered", attempts: 1 });
    expect(deliveries(taskId)).toHaveLength(2);
  });

  it("records an error while preparing an attempt as that attempt's failure", async () => {
    vi.spyOn(console, "error").mockImplementation(() => {});
    const taskId = newTaskId();
    const { event } = await ingest(v2Event(taskId, "pending", 0));
    await deliveryWhenSettled(taskId, "all");
    await runInDurableObject(taskObject(env, taskId), (_, state) => {
      state.storage.sql.exec("UPDATE events SET payload = '{\"broken\":true}'");
      state.storage.sql.exec(
        "UPDATE deliveries SET state = 'pending', enqueued = 1, attempts = 0, finished_at = NULL",
      );
    });
    const message: DeliveryMessage = { task_id: taskId, event, subscription: "all", series: 1 };
    expect(await consume("midhook-deliveries", message)).toMatchObject({ retried: true });
    const delivery = await deliveryTo(taskId, "all");
    expect(delivery.attempts).toBe(1);
    expect(delivery.last_error).toMatch(/could not prepare/);
  });
});

describe("lost queue messages", () => {
  it("waits several minutes before calling a queued message lost", async () => {
    const taskId = newTaskId();
    await ingest(v2Event(taskId, "pending", 0));
    await deliveryWhenSettled(taskId, "all");
    const stub = taskObject(env, taskId);
    // Queued two minutes ago and not attempted yet: a backed-up queue, not a lost message.
    await runAlarmNow(stub, (state) => {
      state.storage.sql.exec(
        "UPDATE deliveries SET state = 'pending', enqueued = 1, attempts = 0, next_attempt_at = ?, finished_at = NULL",
        Date.now() - 120_000,
      );
    });
    expect(await rows(taskId)).toMatchObject({ series: 1, enqueued: 1 });
  });
});

describe("deliveries whose messages keep failing", () => {
  it("fails and lists a delivery whose attempt failed unrecorded in 10 series", async () => {
    vi.spyOn(console, "error").mockImplementation(() => {});
    const taskId = newTaskId();
    await ingest(v2Event(taskId, "pending", 0));
    await deliveryWhenSettled(taskId, "all");
    const stub = taskObject(env, taskId);
    // The queue takes every message from now on, and no attempt of the delivery is recorded.
    vi.spyOn(env.DELIVERY_QUEUE, "sendBatch").mockResolvedValue(undefined as never);
    /** The series' message went out long ago; `leased`: it arrived and took the lease. */
    const unrecorded = (resends: number, leased: boolean) =>
      runInDurableObject(stub, (_, state) => {
        state.storage.sql.exec(
          `UPDATE deliveries SET state = 'pending', enqueued = 1, attempts = 0, finished_at = NULL,
             resends = ?, lease_holder = ?, next_attempt_at = ? WHERE subscription = 'all'`,
          resends,
          leased ? "m-1" : null,
          Date.now() - 600_000,
        );
        // Far off, so that it cannot fire on its own: resent() runs it now.
        return state.storage.setAlarm(Date.now() + 3_600_000);
      });
    const resent = async () => {
      await runDurableObjectAlarm(stub);
      return runInDurableObject(stub, (_, state) =>
        state.storage.sql
          .exec<{ state: string; series: number; resends: number }>(
            "SELECT state, series, resends FROM deliveries WHERE subscription = 'all'",
          )
          .one(),
      );
    };
    // A message that never arrived, or came late, is not counted: it took no lease.
    await unrecorded(5, false);
    expect(await resent()).toEqual({ state: "pending", series: 2, resends: 5 });
    await unrecorded(8, true);
    expect(await resent()).toEqual({ state: "pending", series: 3, resends: 9 });
    // The tenth series whose message took the lease and recorded nothing: no more re-sends.
    await unrecorded(9, true);
    expect((await resent()).state).toBe("failed");
    const failed = await deliveryWhenSettled(taskId, "all");
    expect(failed.last_error).toMatch(/before it was recorded, in 10 attempt series/);
    await eventually(async () =>
      (await deadLetterPage()).items.some((i) => i.task_id === taskId) ? true : undefined,
    );
  });
});

describe("a lease taken through the consumer", () => {
  it("counts the lost series whose message took it, frees it on the re-send, and not the next", async () => {
    vi.spyOn(console, "error").mockImplementation(() => {});
    const { taskId, message } = await queuedAgain();
    const stub = taskObject(env, taskId);
    // The message takes the lease, and its attempt fails before it is recorded.
    const unreachable = healthUnreadable();
    expect(await consume("midhook-deliveries", message)).toMatchObject({ retried: true });
    unreachable.mockRestore();
    vi.spyOn(env.DELIVERY_QUEUE, "sendBatch").mockResolvedValue(undefined as never);
    const lostLongAgo = async () => {
      await runInDurableObject(stub, (_, state) => {
        state.storage.sql.exec(
          "UPDATE deliveries SET lease_until = MIN(lease_until, ?), next_attempt_at = ? WHERE subscription = 'all'",
          Date.now() - 600_000,
          Date.now() - 600_000,
        );
        return state.storage.setAlarm(Date.now() + 3_600_000);
      });
      await runDurableObjectAlarm(stub);
      return runInDurableObject(stub, (_, state) =>
        state.storage.sql
          .exec<{ series: number; resends: number; lease_holder: string | null }>(
            "SELECT series, resends, lease_holder FROM deliveries WHERE subscription = 'all'",
          )
          .one(),
      );
    };
    expect(await lostLongAgo()).toEqual({ series: 2, resends: 1, lease_holder: null });
    // The next series' message never arrives: it took no lease, and is not counted.
    expect(await lostLongAgo()).toEqual({ series: 3, resends: 1, lease_holder: null });
  });
});

describe("what a task's view says about waiting deliveries", () => {
  it("shows a completed event's deliveries waiting for its images, and until when", async () => {
    vi.spyOn(console, "warn").mockImplementation(() => {});
    const taskId = newTaskId();
    const body = clone(fixtures.v2Finished);
    body.task_id = taskId;
    body.task_result.image_url = serveImage(
      `/${taskId}/main.png`,
      () => new Response("", { status: 503 }),
    );
    body.task_result.image_urls = [];
    const { event } = await ingest(body);
    const view = await eventually(async () => {
      const v = await taskView(taskId);
      return v.images[0]?.error ? v : undefined;
    });
    const waiting = view.deliveries.filter((d) => d.event === event);
    expect(waiting.map((d) => [d.subscription, d.state, d.waiting_for]).sort()).toEqual([
      ["all", "pending", "images"],
      ["gallery", "pending", "images"],
    ]);
    const due = Date.parse(waiting[0]?.next_attempt_at ?? "");
    expect(due).toBeGreaterThan(Date.now());
    expect(due - Date.now()).toBeLessThan(10_000);
  });

  it("shows every held event waiting for the config, naming the setting at fault", async () => {
    vi.spyOn(console, "error").mockImplementation(() => {});
    overrideEnv({ SUBSCRIPTIONS: '[{"id":"x","url":"ftp://nope","secret":"env:NOPE"}]' });
    const taskId = newTaskId();
    const { event } = await ingest(v2Event(taskId, "processing", 5));
    const view = await taskView(taskId);
    expect(view.deliveries).toEqual([
      {
        subscription: null,
        event,
        state: "pending",
        waiting_for: expect.stringMatching(/^config: subscriptions\[0\] \(x\)\.url: /),
        attempts: 0,
        last_status: null,
        last_error: null,
        next_attempt_at: expect.any(String),
      },
    ]);
  });
});
