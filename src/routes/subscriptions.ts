// The admin API for subscribers' health: `GET /v1/subscriptions` and `POST .../{id}/resume`.
import { Hono } from "hono";
import { listSubscriptions, resumeSubscription } from "../admin/subscriptions";
import type { AppEnv } from "../bindings";

export const subscriptions = new Hono<AppEnv>();

subscriptions.get("/", async (c) => c.json({ items: await listSubscriptions(c.env) }));

subscriptions.post("/:id/resume", async (c) =>
  c.json(await resumeSubscription(c.env, c.req.param("id"))),
);
