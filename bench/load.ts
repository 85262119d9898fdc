// What the benchmarks share: the stream of new events they send, and a process's CPU time.
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import autocannon from "autocannon";
import { v2Body } from "../scripts/lib/goapi-payloads";

/**
 * The `i`th new event of a run: realistic v2 progress events, ten steps per task, so a new task
 * (a new Durable Object, a new SQLite database) every ten events.
 */
export function newEventBody(runId: string, i: number): string {
  const task = `bench-${runId}-${Math.floor(i / 10)}`;
  return JSON.stringify(v2Body(task, "processing", { progress: (i % 10) * 10 }));
}

/** CPU time (user + system) a process has used so far, in ms; NaN when it is gone. */
export function cpuMs(pid: number | null): number {
  if (pid === null) return Number.NaN;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // utime and stime are fields 14 and 15 of /proc/<pid>/stat, in clock ticks (100 per second).
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return Number.NaN;
  }
}

/**
 * Sends new events (newEventBody) to a Worker's webhook with `secret`, from 10 connections at
 * `rate` requests per second for the seconds asked; each call goes on where the last ended.
 */
export function newEventSender(secret: string, rate: number) {
  const runId = randomUUID().slice(0, 8);
  let next = 0;
  return (url: string, seconds: number) =>
    autocannon({
      url,
      connections: 10,
      duration: seconds,
      overallRate: rate,
      requests: [
        {
          method: "POST",
          path: "/webhooks/goapi",
          headers: { "content-type": "application/json", "x-webhook-secret": secret },
          setupRequest: (req) => ({ ...req, body: newEventBody(runId, next++) }),
        },
      ],
    });
}
