// SubscriberHealth: one Durable Object per subscription, shared by all tasks. It counts failed
// attempts in a row, pauses the subscription after `pause_after_failures`, keeps the list of
// tasks whose deliveries wait while it is paused, probes with the oldest of them at doubling
// intervals, and once the subscription is back releases the waiting tasks a few at a time.
// Deliveries reach it only when they fail, or to refresh a consumer's cache, never on every
// attempt of a healthy subscription.
import { DurableObject } from "cloudflare:workers";
import { taskObject } from "../bindings";
import type { AttemptHealth, SubscriptionHealthView } from "../contract";
import { errorText } from "../lib/errors";
import { afterAttempt, afterProbe, HEALTHY, type Health } from "./policy";

/** Waiting tasks released per step once the subscription is back, one step every second. */
const RELEASE_BATCH = 20;
const RELEASE_PACE_MS = 1_000;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS health (
  id                   INTEGER PRIMARY KEY CHECK (id = 1),
  subscription         TEXT NOT NULL,
  state                TEXT NOT NULL,      -- active | paused
  consecutive_failures INTEGER NOT NULL,
  paused_at            INTEGER,
  next_probe_at        INTEGER,
  failed_probes        INTEGER NOT NULL
);
-- Tasks holding deliveries for this subscription while it was paused: the first event each held,
-- since when, and when it last said so (a hold that arrives while it is being released).
CREATE TABLE IF NOT EXISTS waiting (
  task_id TEXT PRIMARY KEY,
  event   TEXT NOT NULL,
  since   INTEGER NOT NULL,
  touched INTEGER NOT NULL
);
`;

type HealthRow = Health & { subscription: string };

export class SubscriberHealth extends DurableObject<Env> {
  readonly #sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#sql = ctx.storage.sql;
    this.#sql.exec(SCHEMA);
  }

  /** Where the subscription stands. */
  status(subscription: string): SubscriptionHealthView {
    const health = this.#health(subscription);
    const waiting = this.#sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM waiting").one().n;
    return {
      state: health.state,
      consecutive_failures: health.consecutive_failures,
      paused_at: iso(health.paused_at),
      next_probe_at: iso(health.next_probe_at),
      waiting,
    };
  }

  /** Counts one attempt's outcome; pausing after `pauseAfter` failures in a row. */
  report(subscription: string, outcome: AttemptHealth, pauseAfter: number): SubscriptionHealthView {
    const before = this.#health(subscription);
    const after = afterAttempt(before, outcome, pauseAfter, Date.now());
    this.#save(subscription, after);
    if (before.state === "active" && after.state === "paused") {
      console.warn(
        `subscription ${subscription} paused after ${after.consecutive_failures} failed attempts in a row`,
      );
    }
    return this.status(subscription);
  }

  /** Task `taskId` holds a delivery of `event` until the subscription is back. */
  hold(subscription: string, taskId: string, event: string): void {
    this.#health(subscription);
    this.#sql.exec(
      `INSERT INTO waiting (task_id, event, since, touched) VALUES (?, ?, ?, ?)
       ON CONFLICT (task_id) DO UPDATE SET touched = excluded.touched`,
      taskId,
      event,
      Date.now(),
      Date.now(),
    );
    // A consumer that saw the subscription paused a moment too late: release it at once.
    const row = this.#row();
    if (row?.state === "active") this.#schedule(row);
  }

  /**
   * The probe's answer: one that found the subscriber up (see probeFoundUp) resumes the
   * subscription; otherwise the next probe waits longer.
   */
  probeResult(subscription: string, ok: boolean): SubscriptionHealthView {
    const after = afterProbe(this.#health(subscription), ok, Date.now());
    this.#save(subscription, after);
    if (ok) console.warn(`subscription ${subscription} answered its probe: resumed`);
    return this.status(subscription);
  }

  /** Resumes the subscription now (by hand). */
  resume(subscription: string): SubscriptionHealthView {
    this.#health(subscription);
    this.#save(subscription, HEALTHY);
    return this.status(subscription);
  }

  /**
   * Paused: sends the due probe, through the task holding the oldest waiting delivery. Active:
   * releases the waiting tasks, a batch a second, so the subscriber is not flooded at once.
   */
  override async alarm(): Promise<void> {
    const row = this.#row();
    if (row === null) return;
    try {
      if (row.state === "paused") await this.#probe(row);
      else await this.#release(row.subscription);
    } catch (err) {
      console.error(`subscription ${row.subscription}: its health step failed`, errorText(err));
      await this.ctx.storage.setAlarm(Date.now() + 30_000);
      return;
    }
    this.#schedule(this.#row() ?? row);
  }

  async #probe(row: HealthRow): Promise<void> {
    if (row.next_probe_at === null || row.next_probe_at > Date.now()) return;
    const oldest = this.#sql
      .exec<{ task_id: string; event: string }>("SELECT * FROM waiting ORDER BY since LIMIT 1")
      .toArray()[0];
    if (oldest !== undefined) {
      const sent = await taskObject(this.env, oldest.task_id).sendProbe(
        row.subscription,
        oldest.event,
      );
      // A task that holds nothing for it any more (delivered, replayed, erased) leaves the list.
      if (!sent) this.#sql.exec("DELETE FROM waiting WHERE task_id = ?", oldest.task_id);
    }
    // The next probe, should this one's answer never come; its answer reschedules it.
    const now = this.#row();
    if (now?.state === "paused" && now.next_probe_at === row.next_probe_at) {
      const fallback = afterProbe(now, false, Date.now()).next_probe_at;
      this.#save(row.subscription, { ...now, next_probe_at: fallback });
    }
  }

  async #release(subscription: string): Promise<void> {
    const batch = this.#sql
      .exec<{ task_id: string }>(
        "SELECT task_id FROM waiting ORDER BY since LIMIT ?",
        RELEASE_BATCH,
      )
      .toArray();
    for (const { task_id } of batch) {
      const asked = Date.now();
      await taskObject(this.env, task_id).releaseHeld(subscription);
      // Off the list once told, unless a hold arrived meanwhile: then it is released again.
      this.#sql.exec("DELETE FROM waiting WHERE task_id = ? AND touched <= ?", task_id, asked);
    }
  }

  #schedule(row: HealthRow): void {
    const waiting = this.#sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM waiting").one().n;
    if (row.state === "paused" && row.next_probe_at !== null) {
      void this.ctx.storage.setAlarm(row.next_probe_at);
    } else if (row.state === "active" && waiting > 0) {
      void this.ctx.storage.setAlarm(Date.now() + RELEASE_PACE_MS);
    } else {
      void this.ctx.storage.deleteAlarm();
    }
  }

  #row(): HealthRow | null {
    return this.#sql.exec<HealthRow>("SELECT * FROM health").toArray()[0] ?? null;
  }

  #health(subscription: string): Health {
    const row = this.#row();
    if (row !== null) return row;
    this.#sql.exec(
      `INSERT INTO health (id, subscription, state, consecutive_failures, failed_probes)
       VALUES (1, ?, 'active', 0, 0)`,
      subscription,
    );
    return HEALTHY;
  }

  #save(subscription: string, health: Health): void {
    const before = this.#row();
    this.#sql.exec(
      `UPDATE health SET state = ?, consecutive_failures = ?, paused_at = ?, next_probe_at = ?,
         failed_probes = ? WHERE id = 1`,
      health.state,
      health.consecutive_failures,
      health.paused_at,
      health.next_probe_at,
      health.failed_probes,
    );
    const changed =
      before?.state !== health.state || before?.next_probe_at !== health.next_probe_at;
    if (changed) this.#schedule({ ...health, subscription });
  }
}

function iso(at: number | null): string | null {
  return at === null ? null : new Date(at).toISOString();
}
