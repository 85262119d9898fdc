// `npm run deploy`: checks the config a deploy runs (`check-config --deploy`: wrangler.toml's
// vars; secrets put with `wrangler secret put` cannot be read from here), applies the D1
// migrations (migrations/) to the remote D1 database midhook-index, then `wrangler
// deploy`, so the Worker never runs against an older schema. Arguments after `--` go to wrangler
// deploy; an `--env`/`-e` and a `--config`/`-c` among them are used by the check and the
// migrations too. Stops first, saying what to do, on a config problem or while the config still
// holds the placeholder database id.
import { spawnSync } from "node:child_process";
import { parseArgs } from "node:util";
import { unstable_readConfig } from "wrangler";

const PLACEHOLDER_ID = "00000000-0000-0000-0000-000000000000";

const deployArgs = process.argv.slice(2);
const { values } = parseArgs({
  args: deployArgs,
  options: {
    env: { type: "string", short: "e" },
    config: { type: "string", short: "c", default: "wrangler.toml" },
  },
  strict: false,
});
const envName = typeof values.env === "string" ? values.env : undefined;
const configPath = typeof values.config === "string" ? values.config : "wrangler.toml";
const targetArgs = ["--config", configPath, ...(envName ? ["--env", envName] : [])];

const config = unstable_readConfig({ config: configPath, env: envName }, { hideWarnings: true });
const index = config.d1_databases.find(
  (database: { binding: string }) => database.binding === "INDEX",
);
if (index?.database_id === undefined || index.database_id === PLACEHOLDER_ID) {
  console.error(
    [
      "wrangler.toml has no real database_id for the INDEX database yet. Create it once with",
      "  npx wrangler d1 create midhook-index",
      'and put the id it prints in wrangler.toml ([[d1_databases]] database_id = "..."), then run',
      "npm run deploy again.",
    ].join("\n"),
  );
  process.exit(1);
}

const env = { ...process.env, WRANGLER_SEND_METRICS: "false" };
const check = spawnSync("tsx", ["scripts/check-config.ts", "--deploy", ...targetArgs], {
  stdio: "inherit",
  env,
});
if (check.status !== 0) {
  console.error("npm run deploy: fix the config first; nothing was deployed.");
  process.exit(check.status ?? 1);
}
for (const args of [
  ["d1", "migrations", "apply", index.database_name ?? "INDEX", "--remote", ...targetArgs],
  ["deploy", ...deployArgs],
]) {
  const run = spawnSync("wrangler", args, { stdio: "inherit", env });
  if (run.status !== 0) process.exit(run.status ?? 1);
}
