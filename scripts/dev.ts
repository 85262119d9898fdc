// `npm run dev`: `wrangler dev` on http://localhost:8787, plus a local sample image host so that
// `npm run send` payloads have images to archive. On a fresh clone it first creates .dev.vars
// from the committed example; every time, it applies the D1 migrations (the task index, the
// console's sign-outs) to the local state first. Arguments after `--` go to wrangler dev.
import { spawn, spawnSync } from "node:child_process";
import { copyFileSync, existsSync } from "node:fs";
import { unstable_getVarsForDev, unstable_readConfig } from "wrangler";
import { parseImageHosts } from "../src/images/sources";
import { sampleImagesHost, serveSampleImages } from "./lib/sample-images";

if (!existsSync(".dev.vars")) {
  copyFileSync(".dev.vars.example", ".dev.vars");
  console.log("created .dev.vars from .dev.vars.example (local development secrets)");
}

// The local D1 database wrangler dev will use: the default state, or the one --persist-to names.
const args = process.argv.slice(2);
const persistAt = args.findIndex(
  (arg) => arg === "--persist-to" || arg.startsWith("--persist-to="),
);
const persistTo =
  persistAt === -1
    ? []
    : args[persistAt]?.includes("=")
      ? [args[persistAt] ?? ""]
      : ["--persist-to", args[persistAt + 1] ?? ""];
const migrations = spawnSync(
  "wrangler",
  ["d1", "migrations", "apply", "midhook-index", "--local", ...persistTo],
  { stdio: "inherit", env: { ...process.env, WRANGLER_SEND_METRICS: "false", CI: "true" } },
);
if (migrations.status !== 0) {
  console.error("applying the D1 migrations (migrations/) to the local D1 failed");
  process.exit(migrations.status ?? 1);
}

// IMAGE_HOSTS as wrangler dev will load it, with the sample host added for this run only.
const config = unstable_readConfig({ config: "wrangler.toml" }, { hideWarnings: true });
const vars = unstable_getVarsForDev("wrangler.toml", undefined, config.vars, undefined, true);
const configured = vars.IMAGE_HOSTS?.value;
const hosts = parseImageHosts(typeof configured === "string" ? configured : "");
const imageHosts = [...new Set([...hosts, sampleImagesHost()])].join(",");

const samples = await serveSampleImages().catch((err: Error) => {
  console.warn(`sample images not served (${err.message}); npm run send images will fail`);
  return null;
});
if (samples) console.log(`sample images on http://${sampleImagesHost()}/samples/…`);

const wrangler = spawn("wrangler", ["dev", "--var", `IMAGE_HOSTS:${imageHosts}`, ...args], {
  stdio: "inherit",
  env: { ...process.env, WRANGLER_SEND_METRICS: "false" },
});
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
  process.on(signal, () => wrangler.kill(signal));
}
wrangler.on("exit", (code, signal) => {
  samples?.close();
  process.exit(code ?? (signal ? 130 : 0));
});
