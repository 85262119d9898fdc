// The Hono app: routes, the not-found answer and the one error handler.
import { Hono } from "hono";
import { errorResponse, handleError } from "./lib/errors";
import { admin } from "./routes/admin";
import { images } from "./routes/images";
import { webhooks } from "./routes/webhooks";

/** The Hono environment type shared by every router. */
export type AppEnv = { Bindings: Env };

export const app = new Hono<AppEnv>();

app.get("/healthz", (c) => c.json({ ok: true }));
app.route("/webhooks", webhooks);
app.route("/images", images);
app.route("/v1", admin);

app.notFound((c) => errorResponse(c, 404, "not_found", "no such route"));
app.onError(handleError);
