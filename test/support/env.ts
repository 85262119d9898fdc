// Changing the Worker's settings for one test: restored when the test finishes, pass or fail.
import { env } from "cloudflare:workers";
import { onTestFinished } from "vitest";

/** Sets `changes` on the Worker's env until the current test finishes. */
export function overrideEnv(changes: Record<string, string>): void {
  const saved = Object.keys(changes).map((key) => [key, Reflect.get(env, key)] as const);
  Object.assign(env, changes);
  onTestFinished(() => {
    for (const [key, value] of saved) Reflect.set(env, key, value);
  });
}
