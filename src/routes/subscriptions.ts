// The admin API for subscribers' health: `GET /v1/subscriptions` and `POST .../{id}/resume`.
// Configuration comes from SUBSCRIPTIONS, health from each subscription's SubscriberHealth; no
// key and no header value is ever shown.
import { Hono } from "hono";
import { type AppEnv, subscriberHealth } from "../bindings";
import { type Subscription, subscriptionsOf } from "../delivery/subscriptions";
import { ApiError } from "../lib/errors";
import { forgetHealth } from "../subscribers/health-client";

export const subscriptions = new Hono<AppEnv>();

function configured(env: Env): Subscription[] {
  const parsed = subscriptionsOf(env);
  if (!parsed.ok) {
    throw new ApiError(409, "conflict", `SUBSCRIPTIONS is invalid: ${parsed.errors.join("; ")}`);
  }
  return parsed.value;
}

subscriptions.get("/", async (c) => {
  const items = await Promise.all(
    configured(c.env).map(async (s) => ({
      id: s.id,
      url: s.url,
      ...(await subscriberHealth(c.env, s.id).status(s.id)),
    })),
  );
  return c.json({ items });
});

subscriptions.post("/:id/resume", async (c) => {
  const id = c.req.param("id");
  const subscription = configured(c.env).find((s) => s.id === id);
  if (subscription === undefined) {
    throw new ApiError(404, "not_found", `no subscription "${id.slice(0, 64)}" in SUBSCRIPTIONS`);
  }
  const health = await subscriberHealth(c.env, id).resume(id);
  forgetHealth(id);
  return c.json({ id, url: subscription.url, ...health });
});
