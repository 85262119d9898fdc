// `npm run check-config`: is midhook's configuration sound, judged the way the Worker will see it?
//   npm run check-config                          the config `npm run dev` runs: wrangler.toml's
//                                                 vars with .dev.vars (or .env) over them, exactly
//                                                 as wrangler dev loads them
//   npm run check-config -- --deploy [--vars F]   the config `npm run deploy` runs: wrangler.toml's
//                                                 vars, and the secrets you will `wrangler secret
//                                                 put`, read from F if you give one
//   [--config wrangler.toml] [--env NAME]
// Every secret midhook reads is listed with where its value comes from. A deploy whose secrets
// include a development value published in .dev.vars.example fails the check.
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { parseArgs, parseEnv } from "node:util";
import { unstable_getVarsForDev, unstable_readConfig } from "wrangler";
import { configProblems } from "../src/config";
import { referencedSecretNames } from "../src/delivery/subscriptions";

const { values } = parseArgs({
  options: {
    config: { type: "string", default: "wrangler.toml" },
    env: { type: "string" },
    vars: { type: "string" },
    deploy: { type: "boolean", default: false },
  },
});

if (!existsSync(values.config)) {
  console.error(`check-config: ${values.config} not found`);
  process.exit(2);
}
if (values.vars && !existsSync(values.vars)) {
  console.error(`check-config: ${values.vars} not found`);
  process.exit(2);
}
const deploy = values.deploy || values.vars !== undefined;
const config = unstable_readConfig(
  { config: values.config, env: values.env },
  { hideWarnings: true },
);

/** The secrets midhook reads, and the ones SUBSCRIPTIONS names with env:NAME. */
function secretNames(settings: Record<string, unknown>): string[] {
  return [
    ...new Set([
      "GOAPI_WEBHOOK_SECRET",
      "ADMIN_TOKEN",
      "GOAPI_API_KEY",
      ...referencedSecretNames(settings.SUBSCRIPTIONS),
    ]),
  ];
}

/** What an optional secret's absence turns off. */
const UNSET_MEANS = new Map([
  ["ADMIN_TOKEN", "not set: the admin API and console answer 503"],
  ["GOAPI_API_KEY", "not set: submission (POST /v1/tasks) and reconciliation are off"],
]);

/** A stand-in for a secret that is set where it cannot be read from here. */
const STAND_IN = "whsec_c3RhbmQtaW4ta2V5LW9ubHktZm9yLWNoZWNrcy0wMDAx";

const settings: Record<string, unknown> = {};
const sources = new Map<string, string>();
let where: string;
if (!deploy) {
  // Exactly what `wrangler dev` loads: config vars, then every key of .dev.vars (or .env).
  const loaded = unstable_getVarsForDev(values.config, undefined, config.vars, values.env, true);
  const dir = dirname(values.config);
  const file = [`.dev.vars${values.env ? `.${values.env}` : ""}`, ".dev.vars", ".env"].find((f) =>
    existsSync(join(dir, f)),
  );
  for (const [name, binding] of Object.entries(loaded)) {
    settings[name] = binding.value;
    sources.set(
      name,
      binding.type === "secret_text" ? (file ?? "a local env file") : values.config,
    );
  }
  where = `the config \`npm run dev\` runs (${values.config}${file ? ` + ${file}` : ", no .dev.vars"})`;
} else {
  Object.assign(settings, config.vars);
  for (const name of Object.keys(config.vars)) sources.set(name, values.config);
  // Every key of the file is a secret to `wrangler secret put`; secrets override vars.
  const file = values.vars ? parseEnv(readFileSync(values.vars, "utf8")) : {};
  for (const [name, value] of Object.entries(file)) {
    if (typeof value !== "string") continue;
    settings[name] = value;
    sources.set(name, values.vars ?? "");
  }
  for (const name of secretNames(settings)) {
    if (!(name in settings)) {
      // Set with `wrangler secret put`, where nothing here can read it: checked for presence
      // by the deploy itself, and assumed well-formed.
      settings[name] = name.startsWith("GOAPI") || name === "ADMIN_TOKEN" ? "stand-in" : STAND_IN;
      sources.set(
        name,
        `not in ${values.vars ?? "a --vars file"}: assumed set with \`wrangler secret put ${name}\``,
      );
    }
  }
  where = `the config \`npm run deploy\` runs (${values.config}${values.env ? ` [env ${values.env}]` : ""}${values.vars ? ` + ${values.vars}` : ""})`;
}

console.log(`check-config: ${where}`);
console.log("  secrets:");
for (const name of secretNames(settings)) {
  const value = settings[name];
  const source = sources.get(name) ?? "";
  const set = typeof value === "string" && value.trim() !== "";
  const note = !set
    ? (UNSET_MEANS.get(name) ?? "not set")
    : source.startsWith("not in") || source === values.config
      ? source === values.config
        ? `in ${values.config} as a plain var: move it to a secret`
        : source
      : `from ${source}`;
  console.log(`    ${name.padEnd(28)} ${note}`);
}

/**
 * The secrets set to a value .dev.vars.example publishes: meant for a laptop, and known to anyone
 * who reads the repository, so a deploy with one is refused.
 */
function publishedValueProblems(settings: Record<string, unknown>): string[] {
  const example = resolve(import.meta.dirname, "../.dev.vars.example");
  if (!existsSync(example)) return [];
  const published = new Set(
    Object.values(parseEnv(readFileSync(example, "utf8")))
      .map((value) => value?.trim() ?? "")
      .filter((value) => value !== ""),
  );
  return secretNames(settings)
    .filter((name) => {
      const value = settings[name];
      // GOAPI_WEBHOOK_SECRET is a comma list: any one of its secrets counts.
      return typeof value === "string" && value.split(",").some((v) => published.has(v.trim()));
    })
    .map(
      (name) =>
        `${name}: is the development value published in .dev.vars.example; set a secret of your own with \`wrangler secret put ${name}\``,
    );
}

const problems = configProblems(settings);
if (deploy) problems.push(...publishedValueProblems(settings));
if (problems.length === 0) {
  console.log("  valid");
} else {
  console.error(`  ${problems.length} problem(s):`);
  for (const problem of problems) console.error(`    - ${problem}`);
  process.exitCode = 1;
}
