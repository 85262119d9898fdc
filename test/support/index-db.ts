// Every Worker test file starts with the D1 schema (the cross-task index, the console's
// sign-outs), as `npm run dev` and a deploy apply it: migrations/, read by vitest.config.ts.
import { applyD1Migrations, type D1Migration } from "cloudflare:test";
import { env } from "cloudflare:workers";

declare global {
  namespace Cloudflare {
    interface Env {
      /** migrations/ as vitest.config.ts read it (tests only). */
      TEST_MIGRATIONS: D1Migration[];
    }
  }
}

await applyD1Migrations(env.INDEX, env.TEST_MIGRATIONS);
