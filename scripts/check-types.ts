// `npm run types:check`: is the committed worker-configuration.d.ts what `npm run types` makes?
// `wrangler types --check` cannot answer that here: it reads the developer's own .dev.vars, whose
// extra keys would change the result, while `npm run types` reads only the committed example.
// So this regenerates the file the way `npm run types` does and compares; a stale file is left
// regenerated, for the developer to review and commit.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";

const FILE = "worker-configuration.d.ts";
const before = readFileSync(FILE, "utf8");
execFileSync("npm", ["run", "--silent", "types"], { stdio: ["ignore", "ignore", "inherit"] });
const after = readFileSync(FILE, "utf8");
if (before !== after) {
  console.error(`${FILE} was out of date with wrangler.toml; it has been regenerated: commit it.`);
  process.exit(1);
}
console.log(`${FILE} is up to date`);
