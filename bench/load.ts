// What the benchmarks share: the stream of new events they send, and a process's CPU time.
import { readFileSync } from "node:fs";
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
