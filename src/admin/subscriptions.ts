// The operations on subscriptions that the admin API and the console share: each subscription
// with its health, and resuming a paused one. Configuration comes from SUBSCRIPTIONS, health from
// each subscription's SubscriberHealth; no key and no header value is ever shown.
import { subscriberHealth } from "../bindings";
import type { SubscriptionItem } from "../contract";
import {
  invalidSubscriptionsMessage,
  type Subscription,
  subscriptionsOf,
} from "../delivery/subscriptions";
import { ApiError } from "../lib/errors";
import { forgetHealth } from "../subscribers/health-client";

function configured(env: Env): Subscription[] {
  const parsed = subscriptionsOf(env);
  if (!parsed.ok) throw new ApiError(409, "conflict", invalidSubscriptionsMessage(parsed.errors));
  return parsed.value;
}

/** Every subscription with its health, as the API and the console's page show them. */
export async function listSubscriptions(env: Env): Promise<SubscriptionItem[]> {
  return Promise.all(
    configured(env).map(async (s) => ({
      id: s.id,
      url: s.url,
      ...(await subscriberHealth(env, s.id).status(s.id)),
    })),
  );
}

/** Resumes subscription `id` now; ApiError 404 when SUBSCRIPTIONS has no such id. */
export async function resumeSubscription(env: Env, id: string): Promise<SubscriptionItem> {
  const subscription = configured(env).find((s) => s.id === id);
  if (subscription === undefined) {
    throw new ApiError(404, "not_found", `no subscription "${id.slice(0, 64)}" in SUBSCRIPTIONS`);
  }
  const health = await subscriberHealth(env, id).resume(id);
  forgetHealth(id);
  return { id, url: subscription.url, ...health };
}
