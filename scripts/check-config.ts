// `npm run check-config`: validates midhook's configuration before `wrangler deploy`.
// Usage: npm run check-config -- [--config wrangler.toml] [--env NAME] [--vars FILE]
// --vars is a .dev.vars-style file with the secrets' values; without it, secrets referenced
// as env:NAME are checked only for their form.
import { existsSync, readFileSync } from "node:fs";
import { parseArgs, parseEnv } from "node:util";
import { unstable_readConfig } from "wrangler";
import { configProblems } from "../src/config";

const { values } = parseArgs({
  options: {
    config: { type: "string", default: "wrangler.toml" },
    env: { type: "string" },
    vars: { type: "string" },
  },
});

if (!existsSync(values.config)) {
  console.error(`check-config: ${values.config} not found`);
  process.exit(2);
}
const config = unstable_readConfig(
  { config: values.config, env: values.env },
  { hideWarnings: true },
);
const vars: Record<string, unknown> = { ...config.vars };
let secrets: Record<string, string> = {};
if (values.vars) {
  secrets = Object.fromEntries(
    Object.entries(parseEnv(readFileSync(values.vars, "utf8"))).filter(
      (entry): entry is [string, string] => typeof entry[1] === "string",
    ),
  );
} else {
  // Without values, stand in a well-formed key for every secret wrangler.toml declares or
  // SUBSCRIPTIONS references, so only the config's own shape is checked.
  const referenced =
    JSON.stringify(vars.SUBSCRIPTIONS ?? "").match(/env:[A-Za-z_][A-Za-z0-9_]*/g) ?? [];
  for (const name of ["GOAPI_WEBHOOK_SECRET", ...referenced.map((r) => r.slice(4))]) {
    secrets[name] = "whsec_c3RhbmQtaW4ta2V5LW9ubHktZm9yLWNoZWNrcy0wMDAx";
  }
}

const problems = configProblems({ ...vars, ...secrets });
const where = `${values.config}${values.env ? ` [env ${values.env}]` : ""}${values.vars ? ` + ${values.vars}` : ""}`;
if (problems.length === 0) {
  console.log(`check-config: ${where} is valid`);
} else {
  console.error(`check-config: ${where} has ${problems.length} problem(s):`);
  for (const problem of problems) console.error(`  - ${problem}`);
  process.exit(1);
}
