// `npm run send -- <fixture.json> [--url http://localhost:8787]`: posts a GoAPI payload to a
// running `npm run dev`, with the secret from GOAPI_WEBHOOK_SECRET or .dev.vars.
import { existsSync, readFileSync } from "node:fs";
import { parseArgs, parseEnv } from "node:util";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { url: { type: "string", default: "http://localhost:8787" } },
});
const file = positionals[0];
if (!file) {
  console.error("usage: npm run send -- <payload.json> [--url http://localhost:8787]");
  console.error("       e.g. npm run send -- test/support/fixtures/v2-imagine-finished.json");
  process.exit(2);
}
const fromFile = existsSync(".dev.vars")
  ? parseEnv(readFileSync(".dev.vars", "utf8")).GOAPI_WEBHOOK_SECRET
  : undefined;
const secret = (process.env.GOAPI_WEBHOOK_SECRET ?? fromFile ?? "").split(",")[0]?.trim();
if (!secret) {
  console.error(
    "no secret: set GOAPI_WEBHOOK_SECRET or run `npm run dev` once to create .dev.vars",
  );
  process.exit(2);
}
const response = await fetch(`${values.url}/webhooks/goapi`, {
  method: "POST",
  headers: { "content-type": "application/json", "x-webhook-secret": secret },
  body: readFileSync(file),
});
console.log(response.status, await response.text());
process.exitCode = response.status === 200 ? 0 : 1;
