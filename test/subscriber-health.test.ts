// Subscribers that go down: a subscription pauses after failures in a row across tasks, its
// deliveries wait without spending attempts, one probe at a time checks the subscriber, and
// everything goes out once it answers again. Also: several signing keys, and the admin API.
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { Webhook } from "standardwebhooks";
import { describe, expect, it, vi } from "vitest";
import { subscriberHealth, taskObject } from "../src/bindings";
import type { SubscriptionHealthView } from "../src/contract";
import { runAlarmNow } from "./support/alarm";
import { overrideEnv } from "./support/env";
import { v2Event } from "./support/fixtures";
import { deliveries, eventually, subscriberAnswers } from "./support/network";
import {
  adminGet,
  adminPost,
  deadLetterPage,
  ingest,
  newTaskId,
  taskView,
} from "./support/requests";

const KEY_A = `whsec_${btoa("a".repeat(32))}`;
const KEY_B = `whsec_${btoa("b".repeat(32))}`;

/** A subscription of its own for each test (health is per subscription id), and its config. */
function flaky(extra: Record<string, unknown> = {}) {
  const id = `flaky-${crypto.randomUUID().slice(0, 8)}`;
  overrideEnv({
    SUBSCRIPTIONS: JSON.stringify([
      {
        id,
        url: `https://subscriber.test/${id}`,
        secret: [KEY_A, KEY_B],
        events: ["task.created", "task.progress", "task.completed", "task.failed"],
        pause_after_failures: 3,
        max_attempts: 5,
        ...extra,
      },
    ]),
  });
  return id;
}

/** A subscriber that answers every delivery `status()` (read at each delivery). */
function subscriber(taskIds: string[], status: () => number) {
  const ok: string[] = [];
  for (const taskId of taskIds) {
    subscriberAnswers(taskId, () => {
      const code = status();
      if (code < 300) ok.push(taskId);
      return new Response(null, { status: code });
    });
  }
  return ok;
}

const health = (id: string): Promise<SubscriptionHealthView> =>
  subscriberHealth(env, id).status(id);

/** Runs the subscription's health alarm as if its next probe were due now. */
async function runHealthAlarm(id: string) {
  await runAlarmNow(subscriberHealth(env, id), (state) => {
    state.storage.sql.exec(
      "UPDATE health SET next_probe_at = ? WHERE state = 'paused'",
      Date.now(),
    );
  });
}

async function deliveryOf(taskId: string) {
  return eventually(async () => (await taskView(taskId)).deliveries[0]);
}

describe("a subscriber that goes down", () => {
  it("pauses its subscription after failures in a row, and deliveries then wait without spending attempts", async () => {
    vi.spyOn(console, "warn").mockImplementation(() => {});
    const id = flaky();
    const tasks = [newTaskId(), newTaskId(), newTaskId()];
    subscriber(tasks, () => 503);
    for (const taskId of tasks) await ingest(v2Event(taskId, "pending", 0));
    await eventually(async () => ((await health(id)).state === "paused" ? true : undefined));
    expect(await health(id)).toMatchObject({ state: "paused", consecutive_failures: 3 });

    const later = newTaskId();
    subscriber([later], () => 503);
    await ingest(v2Event(later, "pending", 0));
    const held = await eventually(async () => {
      const d = await deliveryOf(later);
      return d.waiting_for === "subscriber paused" ? d : undefined;
    });
    expect(held).toMatchObject({ state: "pending", attempts: 0, next_attempt_at: null });
    expect(deliveries(later)).toEqual([]);
    expect((await health(id)).waiting).toBeGreaterThanOrEqual(1);
    expect((await deadLetterPage()).items.filter((i) => i.subscription === id)).toEqual([]);
  });

  it("probes with one delivery: a failing probe doubles the wait, a good one delivers everything once", async () => {
    vi.spyOn(console, "warn").mockImplementation(() => {});
    const id = flaky();
    const tasks = [newTaskId(), newTaskId(), newTaskId(), newTaskId()];
    let up = false;
    const delivered = subscriber(tasks, () => (up ? 204 : 503));
    for (const taskId of tasks.slice(0, 3)) await ingest(v2Event(taskId, "pending", 0));
    await eventually(async () => ((await health(id)).state === "paused" ? true : undefined));
    await ingest(v2Event(tasks[3] ?? "", "pending", 0));
    await eventually(async () =>
      (await deliveryOf(tasks[3] ?? "")).waiting_for === "subscriber paused" ? true : undefined,
    );
    // Let the first three's queued retries come back and be held too.
    for (const taskId of tasks.slice(0, 3)) {
      await runInDurableObject(taskObject(env, taskId), (_, state) => {
        state.storage.sql.exec("UPDATE deliveries SET next_attempt_at = ?", Date.now());
      });
    }
    await eventually(async () => {
      const views = await Promise.all(tasks.map(deliveryOf));
      return views.every((d) => d.waiting_for === "subscriber paused") ? true : undefined;
    }, 15_000);
    const sentBefore = tasks.flatMap((t) => deliveries(t)).length;

    await runHealthAlarm(id);
    await eventually(() =>
      tasks.flatMap((t) => deliveries(t)).length === sentBefore + 1 ? true : undefined,
    );
    const afterFailedProbe = await eventually(async () => {
      const h = await health(id);
      return h.state === "paused" && Date.parse(h.next_probe_at ?? "") - Date.now() > 90_000
        ? h
        : undefined;
    });
    expect(Date.parse(afterFailedProbe.next_probe_at ?? "") - Date.now()).toBeGreaterThan(110_000);
    for (const taskId of tasks) expect((await deliveryOf(taskId)).attempts).toBeLessThanOrEqual(1);

    up = true;
    await runHealthAlarm(id);
    await eventually(async () => ((await health(id)).state === "active" ? true : undefined));
    await eventually(async () => {
      const views = await Promise.all(tasks.map(deliveryOf));
      return views.every((d) => d.state === "delivered") ? true : undefined;
    }, 15_000);
    expect([...delivered].sort()).toEqual([...tasks].sort());
    expect(await health(id)).toMatchObject({ consecutive_failures: 0, waiting: 0 });
  });

  it("takes a probe answered 410 as the subscriber being back: that delivery stops, the rest go out", async () => {
    vi.spyOn(console, "warn").mockImplementation(() => {});
    const id = flaky({ pause_after_failures: 1 });
    const [gone, waiting] = [newTaskId(), newTaskId()];
    let up = false;
    subscriber([gone], () => (up ? 410 : 503));
    const delivered = subscriber([waiting], () => (up ? 204 : 503));
    await ingest(v2Event(gone, "pending", 0));
    await eventually(async () => ((await health(id)).state === "paused" ? true : undefined));
    // The first task's queued retry comes back and is held first, so it is the one probed.
    await runInDurableObject(taskObject(env, gone), (_, state) => {
      state.storage.sql.exec("UPDATE deliveries SET next_attempt_at = ?", Date.now());
    });
    await eventually(async () =>
      (await deliveryOf(gone)).waiting_for === "subscriber paused" ? true : undefined,
    );
    await ingest(v2Event(waiting, "pending", 0));
    await eventually(async () =>
      (await deliveryOf(waiting)).waiting_for === "subscriber paused" ? true : undefined,
    );

    up = true;
    await runHealthAlarm(id);
    await eventually(async () => ((await health(id)).state === "active" ? true : undefined));
    await eventually(
      async () => ((await deliveryOf(waiting)).state === "delivered" ? true : undefined),
      15_000,
    );
    expect(await deliveryOf(gone)).toMatchObject({ state: "failed", last_status: 410 });
    expect(delivered).toEqual([waiting]);
    expect(await health(id)).toMatchObject({ consecutive_failures: 0, waiting: 0 });
  });

  it("lets a removed subscription's waiting deliveries fail at its next probe, each listed as a dead letter", async () => {
    vi.spyOn(console, "warn").mockImplementation(() => {});
    const id = flaky({ pause_after_failures: 1, max_attempts: 2 });
    const [first, ...later] = [newTaskId(), newTaskId(), newTaskId()];
    subscriber([first, ...later], () => 503);
    await ingest(v2Event(first, "pending", 0));
    await eventually(async () => ((await health(id)).state === "paused" ? true : undefined));
    for (const taskId of later) await ingest(v2Event(taskId, "pending", 0));
    await eventually(async () => {
      const views = await Promise.all(later.map(deliveryOf));
      return views.every((d) => d.waiting_for === "subscriber paused") ? true : undefined;
    });

    // One probe: the one delivery it takes fails as unconfigured, and so, at once, do the rest.
    overrideEnv({ SUBSCRIPTIONS: "[]" });
    await runHealthAlarm(id);
    await eventually(async () => {
      const views = await Promise.all(later.map(deliveryOf));
      return views.every((d) => d.state === "failed") ? true : undefined;
    }, 15_000);
    for (const taskId of later) {
      expect(await deliveryOf(taskId)).toMatchObject({
        last_error: "subscription is no longer in SUBSCRIPTIONS",
      });
    }
    await eventually(async () => {
      const listed = (await deadLetterPage()).items.filter((i) => i.subscription === id);
      return listed.length >= later.length ? true : undefined;
    });
  });

  it("resumes by hand, and its waiting deliveries go out", async () => {
    vi.spyOn(console, "warn").mockImplementation(() => {});
    const id = flaky({ pause_after_failures: 1 });
    const [first, second] = [newTaskId(), newTaskId()];
    let up = false;
    const delivered = subscriber([first, second], () => (up ? 200 : 500));
    await ingest(v2Event(first, "pending", 0));
    await eventually(async () => ((await health(id)).state === "paused" ? true : undefined));
    await ingest(v2Event(second, "pending", 0));
    await eventually(async () =>
      (await deliveryOf(second)).waiting_for === "subscriber paused" ? true : undefined,
    );
    up = true;
    const resumed = await adminPost(`/v1/subscriptions/${id}/resume`);
    expect(resumed.status).toBe(200);
    expect(await resumed.json()).toMatchObject({ id, state: "active", consecutive_failures: 0 });
    await eventually(
      async () => ((await deliveryOf(second)).state === "delivered" ? true : undefined),
      15_000,
    );
    expect(delivered).toContain(second);
    expect((await adminPost("/v1/subscriptions/nope/resume")).status).toBe(404);
  });

  it("releases a held delivery its subscription's health never heard of, once it asks again", async () => {
    const id = flaky();
    const taskId = newTaskId();
    let up = false;
    const delivered = subscriber([taskId], () => (up ? 200 : 503));
    await ingest(v2Event(taskId, "pending", 0));
    await eventually(async () => ((await deliveryOf(taskId)).attempts === 1 ? true : undefined));
    // The delivery was held, but the word to the health object was lost (a crash between the
    // two), and the subscription has since resumed without knowing of it.
    const stub = taskObject(env, taskId);
    await runInDurableObject(stub, (_, state) => {
      state.storage.sql.exec(
        "UPDATE deliveries SET enqueued = 0, held = 'paused', held_at = ?",
        Date.now() - 3_600_000,
      );
    });
    expect((await deliveryOf(taskId)).waiting_for).toBe("subscriber paused");
    up = true;
    await runAlarmNow(stub);
    await eventually(async () =>
      (await deliveryOf(taskId)).state === "delivered" ? true : undefined,
    );
    expect(delivered).toEqual([taskId]);
    expect(await health(id)).toMatchObject({ state: "active" });
  });

  it("probes again after a probe answered 4xx: that delivery retries as any other", async () => {
    vi.spyOn(console, "warn").mockImplementation(() => {});
    const id = flaky({ pause_after_failures: 1 });
    const taskId = newTaskId();
    let status = 503;
    const delivered = subscriber([taskId], () => status);
    await ingest(v2Event(taskId, "pending", 0));
    await eventually(async () => ((await health(id)).state === "paused" ? true : undefined));
    const stub = taskObject(env, taskId);
    await runInDurableObject(stub, (_, state) => {
      state.storage.sql.exec("UPDATE deliveries SET next_attempt_at = ?", Date.now());
    });
    await eventually(async () =>
      (await deliveryOf(taskId)).waiting_for === "subscriber paused" ? true : undefined,
    );
    // The subscriber is back but refuses this delivery: the probe found it up, so the
    // subscription resumes, and the delivery retries later, spending the attempt.
    status = 401;
    await runHealthAlarm(id);
    await eventually(async () => ((await health(id)).state === "active" ? true : undefined));
    await eventually(async () =>
      (await deliveryOf(taskId)).last_status === 401 ? true : undefined,
    );
    // It goes down again, and the task's next event waits for the next probe.
    status = 503;
    await ingest(v2Event(taskId, "processing", 50));
    await eventually(async () => ((await health(id)).state === "paused" ? true : undefined));
    await runInDurableObject(stub, (_, state) => {
      state.storage.sql.exec(
        "UPDATE deliveries SET next_attempt_at = ? WHERE rowid = (SELECT MAX(rowid) FROM deliveries)",
        Date.now(),
      );
    });
    await eventually(async () => {
      const view = await taskView(taskId);
      return view.deliveries[1]?.waiting_for === "subscriber paused" ? true : undefined;
    }, 15_000);
    // That probe goes out at once: the retrying delivery is no probe on its way any more.
    status = 204;
    await runHealthAlarm(id);
    await eventually(async () => ((await health(id)).state === "active" ? true : undefined));
    await eventually(async () => (delivered.length > 0 ? true : undefined));
  });

  it("asks about each subscription it holds deliveries for, even when another's health fails", async () => {
    vi.spyOn(console, "error").mockImplementation(() => {});
    const prefix = `pair-${crypto.randomUUID().slice(0, 8)}`;
    const [broken, back] = [`${prefix}-a`, `${prefix}-b`];
    overrideEnv({
      SUBSCRIPTIONS: JSON.stringify(
        [broken, back].map((id) => ({
          id,
          url: `https://subscriber.test/${id}`,
          secret: KEY_A,
          events: ["task.created"],
        })),
      ),
    });
    const taskId = newTaskId();
    subscriber([taskId], () => 200);
    await ingest(v2Event(taskId, "pending", 0));
    await eventually(async () => {
      const view = await taskView(taskId);
      return view.deliveries.filter((d) => d.state === "delivered").length === 2 ? true : undefined;
    });
    // Both held long ago, their word to the health objects lost; one health object fails.
    const stub = taskObject(env, taskId);
    await runInDurableObject(stub, (_, state) => {
      state.storage.sql.exec(
        "UPDATE deliveries SET state = 'pending', enqueued = 0, held = 'paused', held_at = ?, finished_at = NULL",
        Date.now() - 3_600_000,
      );
    });
    const getByName = env.SUBSCRIBERS.getByName.bind(env.SUBSCRIBERS);
    vi.spyOn(env.SUBSCRIBERS, "getByName").mockImplementation((name) => {
      if (name === broken) throw new Error("Durable Object is overloaded");
      return getByName(name);
    });
    await runAlarmNow(stub);
    const view = await eventually(async () => {
      const v = await taskView(taskId);
      return v.deliveries.find((d) => d.subscription === back)?.attempts === 2 ? v : undefined;
    });
    expect(view.deliveries.find((d) => d.subscription === back)?.state).toBe("delivered");
    expect(view.deliveries.find((d) => d.subscription === broken)?.waiting_for).toBe(
      "subscriber paused",
    );
  });

  it("keeps a task on the waiting list while its probe is still on its way", async () => {
    vi.spyOn(console, "warn").mockImplementation(() => {});
    const id = flaky({ pause_after_failures: 1 });
    const taskId = newTaskId();
    let up = false;
    subscriber([taskId], () => (up ? 200 : 503));
    await ingest(v2Event(taskId, "pending", 0));
    await eventually(async () => ((await health(id)).state === "paused" ? true : undefined));
    await ingest(v2Event(taskId, "processing", 50));
    const stub = taskObject(env, taskId);
    await runInDurableObject(stub, (_, state) => {
      // Both held; the first picked as a probe that has not gone out yet (say, SUBSCRIPTIONS was
      // broken meanwhile).
      state.storage.sql.exec(
        "UPDATE deliveries SET held = 'paused', held_at = ?, enqueued = 0",
        Date.now(),
      );
      state.storage.sql.exec(
        "UPDATE deliveries SET held = NULL, probe = 1, next_attempt_at = ? WHERE rowid = (SELECT MIN(rowid) FROM deliveries)",
        Date.now() + 3_600_000,
      );
    });
    await subscriberHealth(env, id).hold(id, taskId, "evt_first");
    await runHealthAlarm(id);
    expect((await health(id)).waiting).toBe(1);
    up = true;
    await subscriberHealth(env, id).resume(id);
    await eventually(async () => {
      const view = await taskView(taskId);
      return view.deliveries.some((d) => d.state === "delivered") ? true : undefined;
    });
  });

  it("stops one delivery at 410 without counting it toward a pause", async () => {
    const id = flaky({ pause_after_failures: 2 });
    const tasks = [newTaskId(), newTaskId(), newTaskId()];
    subscriber(tasks, () => 410);
    for (const taskId of tasks) await ingest(v2Event(taskId, "pending", 0));
    await eventually(async () => {
      const views = await Promise.all(tasks.map(deliveryOf));
      return views.every((d) => d.state === "failed") ? true : undefined;
    });
    expect(await health(id)).toMatchObject({ state: "active", consecutive_failures: 0 });
  });
});

describe("subscriptions", () => {
  it("signs every delivery with each of its keys, and each key alone verifies it", async () => {
    const id = flaky();
    const taskId = newTaskId();
    await ingest(v2Event(taskId, "pending", 0));
    const sent = await eventually(() => deliveries(taskId).find((d) => d.path === `/${id}`));
    expect(sent.headers["webhook-signature"]).toMatch(/^v1,\S+ v1,\S+$/);
    for (const key of [KEY_A, KEY_B]) {
      expect(new Webhook(key).verify(sent.body, sent.headers)).toMatchObject({
        type: "task.created",
      });
    }
  });

  it("lists each subscription's health, and never a key or a secret header", async () => {
    overrideEnv({ TEAM_TOKEN: "t0ken-from-a-secret" });
    const id = flaky({ headers: { "x-team": "art", "x-token": "env:TEAM_TOKEN" } });
    const response = await adminGet("/v1/subscriptions");
    expect(response.status).toBe(200);
    const text = await response.text();
    expect(JSON.parse(text)).toEqual({
      items: [
        {
          id,
          url: `https://subscriber.test/${id}`,
          state: "active",
          consecutive_failures: 0,
          paused_at: null,
          next_probe_at: null,
          waiting: 0,
        },
      ],
    });
    for (const secret of [KEY_A, KEY_B, "t0ken-from-a-secret"]) expect(text).not.toContain(secret);
  });
});
