// What the delivery consumer asks of a subscription's health: is it paused, and here is how an
// attempt went. A healthy subscription's state is kept for a few seconds in the isolate, so a
// delivery to it touches its health object only when an attempt fails or the cache is stale:
// the object is never a queue every attempt waits in.
import { subscriberHealth } from "../bindings";
import type { AttemptHealth, SubscriptionHealthView } from "../contract";

/** What the health client needs of a subscription (a configured Subscription is one). */
interface SubscriptionRef {
  id: string;
  pause_after_failures: number;
}

/** How long a consumer trusts what it last heard of a subscription's health. */
const CACHE_MS = 5_000;

const cache = new Map<string, { health: SubscriptionHealthView; at: number }>();

function remember(id: string, health: SubscriptionHealthView): SubscriptionHealthView {
  cache.set(id, { health, at: Date.now() });
  return health;
}

async function current(env: Env, id: string): Promise<SubscriptionHealthView> {
  const known = cache.get(id);
  if (known && Date.now() - known.at < CACHE_MS) return known.health;
  return remember(id, await subscriberHealth(env, id).status(id));
}

/** Whether deliveries to `subscription` should wait rather than be attempted. */
export async function isPaused(env: Env, subscription: SubscriptionRef): Promise<boolean> {
  return (await current(env, subscription.id)).state === "paused";
}

/**
 * Tells the subscription's health how an attempt went. A success while it is known healthy
 * (no failures counted) needs no word; a failure always counts.
 */
export async function reportAttempt(
  env: Env,
  subscription: SubscriptionRef,
  outcome: AttemptHealth,
): Promise<void> {
  if (outcome === "neutral") return;
  const known = await current(env, subscription.id);
  if (outcome === "success" && known.state === "active" && known.consecutive_failures === 0) {
    return;
  }
  const health = subscriberHealth(env, subscription.id);
  remember(
    subscription.id,
    await health.report(subscription.id, outcome, subscription.pause_after_failures),
  );
}

/** Registers a delivery held back while the subscription is paused. */
export async function holdFor(
  env: Env,
  subscription: SubscriptionRef,
  taskId: string,
  event: string,
): Promise<void> {
  await subscriberHealth(env, subscription.id).hold(subscription.id, taskId, event);
}

/** The probe's answer. */
export async function reportProbe(
  env: Env,
  subscription: SubscriptionRef,
  ok: boolean,
): Promise<void> {
  remember(
    subscription.id,
    await subscriberHealth(env, subscription.id).probeResult(subscription.id, ok),
  );
}

/** Forgets what this isolate knew (a resume by hand must be seen at once here). */
export function forgetHealth(id: string): void {
  cache.delete(id);
}

/**
 * A paused subscription is no longer in SUBSCRIPTIONS (its probe found out): its waiting
 * deliveries are let go at once, to fail as unconfigured and be listed as dead letters, rather
 * than one a probe at a time.
 */
export async function releaseRemoved(env: Env, id: string): Promise<void> {
  forgetHealth(id);
  await subscriberHealth(env, id).resume(id);
}
