// The Hono app: routes (the console at `/`), the not-found answer and the API's error handler
// (the console's pages answer errors as pages, see routes/console.tsx).
import { Hono } from "hono";
import type { AppEnv } from "./bindings";
import { errorEnvelope, errorResponse } from "./lib/errors";
import { consolePages } from "./routes/console";
import { deadLetters } from "./routes/dead-letters";
import { images } from "./routes/images";
import { requireAdmin } from "./routes/require-admin";
import { submissions } from "./routes/submissions";
import { subscriptions } from "./routes/subscriptions";
import { tasks } from "./routes/tasks";
import { webhooks } from "./routes/webhooks";

export const app = new Hono<AppEnv>();

app.get("/healthz", (c) => c.json({ ok: true }));
app.route("/webhooks", webhooks);
app.route("/images", images);
app.use("/v1/*", requireAdmin);
app.route("/v1/tasks", submissions);
app.route("/v1/tasks", tasks);
app.route("/v1/dead-letters", deadLetters);
app.route("/v1/subscriptions", subscriptions);
app.route("/", consolePages);

app.notFound((c) => errorEnvelope(c, 404, "not_found", "no such route"));
app.onError(errorResponse);
