// The admin API for failed deliveries: `GET /v1/dead-letters` and `POST .../{id}/replay`.
import { Hono } from "hono";
import { listDeadLetters, replayDeadLetter } from "../admin/dead-letters";
import type { AppEnv } from "../bindings";

export const deadLetters = new Hono<AppEnv>();

deadLetters.get("/", async (c) => c.json(await listDeadLetters(c.env, c.req.query())));

deadLetters.post("/:id/replay", async (c) => {
  const restarted = await replayDeadLetter(c.env, c.req.param("id"));
  return c.json({ ok: true, deliveries: restarted });
});
