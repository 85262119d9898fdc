// Running a Durable Object's alarm from a test, without racing the alarm the runtime would run.
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import type { DurableObject } from "cloudflare:workers";

const DAY = 24 * 3600_000;

/**
 * Runs the object's alarm now, after `prepare` (run inside the object first, if given). The alarm
 * is set a day off first, not for now: an alarm due now may fire on its own before
 * runDurableObjectAlarm reaches it, which then finds none, returns at once, and leaves the
 * test reading the object while that run is still going. The alarm's own code reads the clock,
 * not the time it was set for, so it runs as it would have.
 */
export async function runAlarmNow<O extends DurableObject>(
  stub: DurableObjectStub<O>,
  prepare?: (state: DurableObjectState) => void,
): Promise<void> {
  await runInDurableObject(stub, (_, state) => {
    prepare?.(state);
    return state.storage.setAlarm(Date.now() + DAY);
  });
  if (!(await runDurableObjectAlarm(stub))) throw new Error("the alarm set a moment ago was gone");
}
