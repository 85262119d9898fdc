// Four projects, one `npm test`: the Worker's tests run inside workerd with the real local
// bindings of wrangler.toml (Durable Objects, R2, Queues, D1); pure unit tests run in Node,
// without workerd; end-to-end tests run the project as a user does, from Node; browser tests
// drive Debian's Chromium against a local Worker, from Node.

import { readFileSync } from "node:fs";
import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-pool-workers";
import type { Plugin } from "vite";
import { defineConfig } from "vitest/config";

// The D1 schema (the index, the console's sign-outs), applied to each test file's own D1 database
// by test/support/index-db.ts.
const migrations = await readD1Migrations("migrations");
/**
 * Loads standardwebhooks without its source map comment: the map points at files the package
 * does not publish, and the Workers pool's Vite would warn about it on every run.
 */
function withoutBrokenSourceMaps(): Plugin {
  return {
    name: "midhook:without-broken-source-maps",
    enforce: "pre",
    load(id) {
      if (!/\/node_modules\/standardwebhooks\/dist\/.*\.js$/.test(id)) return null;
      return readFileSync(id, "utf8").replace(/^\/\/# sourceMappingURL=.*$/m, "");
    },
  };
}

const workers = cloudflareTest({
  wrangler: { configPath: "./wrangler.toml" },
  miniflare: {
    // Last line of defence: a request that escapes test/support/network.ts's fake network (say,
    // a queue message consumed after its test file ended) never leaves the machine.
    outboundService: (request: Request) =>
      new Response(`blocked outbound request to ${new URL(request.url).host}`, { status: 503 }),
    bindings: {
      GOAPI_WEBHOOK_SECRET: "test-secret-current, test-secret-previous",
      ADMIN_TOKEN: "test-admin-token",
      // test/support/network.ts fakes these hosts; nothing leaves the machine.
      IMAGE_HOSTS: "images.test",
      SUBSCRIPTIONS: JSON.stringify([
        {
          id: "all",
          url: "https://subscriber.test/all",
          secret: "env:ALL_WEBHOOK_SECRET",
          events: ["task.created", "task.progress", "task.completed", "task.failed"],
        },
        {
          id: "gallery",
          url: "https://subscriber.test/gallery",
          secret: "whsec_Z2FsbGVyeS10ZXN0LWtleS0wMDAwMDAwMDAy",
          events: ["task.completed", "task.failed"],
          task_types: ["imagine", "upscale"],
          format: "goapi",
          headers: { "x-team": "art" },
          max_attempts: 3,
        },
      ]),
      // Submission and reconciliation against test/support/network.ts's fake GoAPI.
      GOAPI_API_KEY: "test-goapi-api-key",
      GOAPI_API_BASE: "https://api.goapi.test",
      ALL_WEBHOOK_SECRET: "whsec_YWxsLXN1YnNjcmliZXItdGVzdC1rZXktMDAwMQ==",
      TEST_MIGRATIONS: migrations,
    },
  },
});

export default defineConfig({
  plugins: [withoutBrokenSourceMaps()],
  test: {
    restoreMocks: true,
    // What the code under test logs (image failures, rejected configs…) is part of what many
    // tests provoke on purpose: shown for a failing test, not for a passing one.
    silent: "passed-only",
    projects: [
      {
        extends: true,
        plugins: [workers],
        test: {
          name: "worker",
          include: ["test/*.test.ts"],
          setupFiles: ["test/support/network.ts", "test/support/index-db.ts"],
          // Tests wait on real alarms and queue retries (the first retry is about 5 s away).
          testTimeout: 20_000,
        },
      },
      {
        extends: true,
        test: { name: "unit", include: ["test/unit/**/*.test.ts"], environment: "node" },
      },
      {
        // The project's commands run as a user runs them, from Node: `npm run dev` in a copy,
        // `npm run send`, `npm run check-config` and the check that stops `npm run deploy`.
        extends: true,
        test: {
          name: "e2e",
          include: ["test/e2e/**/*.test.ts"],
          environment: "node",
          testTimeout: 90_000,
          hookTimeout: 30_000,
        },
      },
      {
        // The console in Debian's Chromium (playwright-core), against the Worker in the local
        // runtime. globalSetup installs Chromium when it is missing, or stops and says how.
        extends: true,
        test: {
          name: "browser",
          include: ["test/browser/**/*.test.ts"],
          environment: "node",
          globalSetup: ["test/browser/support/chromium.ts"],
          testTimeout: 120_000,
          hookTimeout: 180_000,
        },
      },
    ],
  },
});
