// `npm run send -- <sample|file.json> [--url URL] [--task-id ID] [--secret S]`: posts a GoAPI
// payload to midhook the way GoAPI does. A sample is a name from samples/ (v2-pending,
// v2-progress-40, v2-finished, v2-failed, v1-progress-40, v1-completed). Each send gets a new
// task id, so samples never collide; pass --task-id to send several steps of one task. Sent to a
// local `npm run dev`, image URLs point at its sample image host, so images really get archived.
// The secret comes from --secret, GOAPI_WEBHOOK_SECRET, or .dev.vars (the first of its list).
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import { parseArgs, parseEnv } from "node:util";
import { sampleImageUrl } from "./lib/sample-images";

const SAMPLES = resolve(import.meta.dirname, "../samples");
const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    url: { type: "string", default: "http://localhost:8787" },
    "task-id": { type: "string" },
    secret: { type: "string" },
  },
});

const names = readdirSync(SAMPLES).map((f) => basename(f, ".json"));
const what = positionals[0];
if (!what) {
  console.error(
    "usage: npm run send -- <sample|file.json> [--url URL] [--task-id ID] [--secret S]",
  );
  console.error(`       samples: ${names.join(", ")}`);
  process.exit(2);
}
const file = names.includes(what) ? join(SAMPLES, `${what}.json`) : what;
if (!existsSync(file)) {
  console.error(`no sample or file "${what}"; samples: ${names.join(", ")}`);
  process.exit(2);
}

const fromDevVars = existsSync(".dev.vars")
  ? parseEnv(readFileSync(".dev.vars", "utf8")).GOAPI_WEBHOOK_SECRET
  : undefined;
const secret = (values.secret ?? process.env.GOAPI_WEBHOOK_SECRET ?? fromDevVars ?? "")
  .split(",")[0]
  ?.trim();
if (!secret) {
  console.error("no secret: pass --secret, set GOAPI_WEBHOOK_SECRET, or run `npm run dev` once");
  process.exit(2);
}

const body: unknown = JSON.parse(readFileSync(file, "utf8"));
const taskId = values["task-id"] ?? crypto.randomUUID();
const local = /^http:\/\/(localhost|127\.0\.0\.1)(:\d+)?$/.test(values.url.replace(/\/$/, ""));
const payload = withTask(body, taskId, local);
const response = await fetch(`${values.url.replace(/\/$/, "")}/webhooks/goapi`, {
  method: "POST",
  headers: { "content-type": "application/json", "x-webhook-secret": secret },
  body: JSON.stringify(payload),
});
console.log(response.status, await response.text());
if (response.status === 200) {
  console.log(`task ${taskId}: curl ${values.url.replace(/\/$/, "")}/v1/tasks/${taskId} \\`);
  console.log("  -H 'authorization: Bearer <ADMIN_TOKEN>'");
}
process.exitCode = response.status === 200 ? 0 : 1;

/**
 * `body` for task `taskId` (either shape); locally, its image URLs point at the sample image
 * host that `npm run dev` serves, since the samples' GoAPI links have long expired.
 */
function withTask(sample: unknown, id: string, sampleImages: boolean): unknown {
  const copy = structuredClone(sample) as Record<string, unknown>;
  const task = (typeof copy.data === "object" && copy.data !== null ? copy.data : copy) as Record<
    string,
    unknown
  >;
  task.task_id = id;
  const result = (task.output ?? task.task_result) as Record<string, unknown> | undefined;
  if (sampleImages && result) {
    if (typeof result.image_url === "string" && result.image_url !== "") {
      result.image_url = sampleImageUrl(id, "main");
    }
    for (const field of ["image_urls", "temporary_image_urls"]) {
      const list = result[field];
      if (Array.isArray(list))
        result[field] = list.map((_, i) => sampleImageUrl(id, String(i + 1)));
    }
  }
  return copy;
}
