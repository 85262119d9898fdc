// Reconciliation: a task that has gone silent is polled at GoAPI by its alarm, at the times
// planPoll gives, and what GoAPI says is recorded like a webhook. Nothing is polled while
// GOAPI_API_KEY is unset (or GOAPI_API_BASE refused), but until the task's give-up time the
// alarm still looks hourly, so that polling turned on reaches it; nothing at all once the task
// is terminal or past its give-up time.
import { goapiApi, type PollSettings, pollSettings, secretsToRemove } from "../config";
import type { ReconcileView } from "../contract";
import { acceptGoapiBody, asWebhookBody, warnIfUnknownStatus } from "../goapi/accept";
import { isTerminal, type TaskEvent } from "../goapi/events";
import { failureMessage, fetchTask, shownText } from "../upstream/goapi-client";
import { nextPollLookAt, type PollPlan, planPoll } from "../upstream/poll-policy";
import type { ReconcileRow, TaskRow } from "./schema";

export class TaskReconcile {
  readonly #sql: SqlStorage;
  readonly #env: Env;

  constructor(sql: SqlStorage, env: Env) {
    this.#sql = sql;
    this.#env = env;
  }

  /**
   * When the alarm must next look at the task's poll: its poll's time, or, while polling is off,
   * when to look whether it is on again (see nextPollLookAt); null for never (terminal, given up).
   */
  nextPollAt(task: TaskRow): number | null {
    const api = goapiApi(this.#env);
    const settings = api ?? pollSettings(this.#env);
    const giveUpAt = Date.parse(task.created_at) + settings.giveUpAfterMs;
    return nextPollLookAt(this.#plan(task, settings), api !== null, Date.now(), giveUpAt);
  }

  /**
   * Polls GoAPI if the task's poll is due, handing what it says to `record` exactly as a webhook
   * with that content would be recorded, and notes the poll and its error, if any, for the next
   * plan; unless the task was `erased` while GoAPI answered.
   */
  async pollIfDue(
    task: TaskRow,
    record: (event: TaskEvent, payload: string) => void,
    erased: () => boolean,
  ): Promise<void> {
    const api = goapiApi(this.#env);
    if (api === null) return;
    const plan = this.#plan(task, api);
    if (plan.state !== "scheduled" || plan.at > Date.now()) return;
    const asked = Date.now();
    const answer = await fetchTask(api, task.task_id);
    // Erased while GoAPI answered: neither the answer nor the poll is kept.
    if (erased()) return;
    // An event heard while GoAPI answered restarts the doubling (see #row), as any event after a
    // poll does: the poll then counts as of when it was asked, before that event.
    const heardMeanwhile = this.#updatedAt() > asked;
    const secrets = secretsToRemove(this.#env);
    let error: string | null = null;
    // GoAPI's message may echo the API key: only its cleaned form is logged, stored and shown.
    if (!answer.ok) error = `${answer.kind}: ${failureMessage(answer, secrets)}`;
    else {
      const body = asWebhookBody(answer.data, Date.now());
      const accepted = acceptGoapiBody(body, secrets);
      if (accepted.ok) {
        warnIfUnknownStatus(accepted.event);
        // A failure to record the answer (its writes are rolled back) is the poll's error: the
        // poll still counts, so that polling doubles and gives up rather than asking for ever.
        try {
          record(accepted.event, accepted.payload);
        } catch (err) {
          const message = err instanceof Error ? err.message : String(err);
          error = `recording GoAPI's answer failed: ${shownText(message, secrets)}`;
        }
      } else error = `GoAPI's answer is not a task: ${accepted.error}`;
    }
    if (error !== null) console.warn(`task ${task.task_id}: polling GoAPI failed: ${error}`);
    const row = this.#row(task);
    this.#sql.exec(
      `INSERT INTO reconcile (id, polls, streak, last_poll_at, last_error) VALUES (1, ?, ?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET polls = excluded.polls, streak = excluded.streak,
         last_poll_at = excluded.last_poll_at, last_error = excluded.last_error`,
      (row?.polls ?? 0) + 1,
      (row?.streak ?? 0) + 1,
      heardMeanwhile ? asked : Date.now(),
      error,
    );
  }

  /** Where polling stands, for the task view. */
  view(task: TaskRow): ReconcileView {
    const api = goapiApi(this.#env);
    const row = this.#row(task);
    const plan: PollPlan = api === null ? { state: "idle" } : this.#plan(task, api);
    return {
      state: plan.state,
      next_poll_at: plan.state === "scheduled" ? new Date(plan.at).toISOString() : null,
      polls: row?.polls ?? 0,
      last_error: row?.last_error ?? null,
    };
  }

  /** When the task's latest event was recorded, as it stands now (epoch ms; NaN for none). */
  #updatedAt(): number {
    const rows = this.#sql.exec<Pick<TaskRow, "updated_at">>("SELECT updated_at FROM task");
    return Date.parse(rows.toArray()[0]?.updated_at ?? "");
  }

  /** The poll row, with its streak reset when an event arrived after the last poll. */
  #row(task: TaskRow): ReconcileRow | null {
    const row = this.#sql.exec<ReconcileRow>("SELECT * FROM reconcile").toArray()[0] ?? null;
    if (row === null) return null;
    return Date.parse(task.updated_at) > row.last_poll_at ? { ...row, streak: 0 } : row;
  }

  #plan(task: TaskRow, settings: PollSettings): PollPlan {
    const row = this.#row(task);
    return planPoll(
      {
        terminal: isTerminal(task.status),
        firstEventAt: Date.parse(task.created_at),
        lastEventAt: Date.parse(task.updated_at),
        lastPollAt: row?.last_poll_at ?? null,
        streak: row?.streak ?? 0,
      },
      { afterMs: settings.reconcileAfterMs, giveUpAfterMs: settings.giveUpAfterMs },
    );
  }
}
