// Run after `npm install`/`npm ci`: teaches @cloudflare/vitest-pool-workers 0.15.1 that the
// "WebSocket peer disconnected" workerd prints when a test run tears its pool down is harmless,
// as its 0.16.6 does (workers-sdk PR #13833; that release needs wrangler 4.92 and Node 22, so
// it cannot be used here). Without it a passing `npm test` ends with alarming "exception" lines.
// Idempotent; does nothing when the package is absent or already knows the message.
import { existsSync, readFileSync, writeFileSync } from "node:fs";

const FILE = "node_modules/@cloudflare/vitest-pool-workers/dist/pool/index.mjs";
const MESSAGE = "disconnected: WebSocket peer disconnected";
const ANCHOR = '\t"disconnected: WebSocket was aborted",\n';

if (existsSync(FILE)) {
  const source = readFileSync(FILE, "utf8");
  if (!source.includes(MESSAGE) && source.includes(ANCHOR)) {
    writeFileSync(FILE, source.replace(ANCHOR, `${ANCHOR}\t"${MESSAGE}",\n`));
  }
}
