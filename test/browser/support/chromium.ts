// Vitest's globalSetup for the browser tests: they drive Debian's Chromium (Playwright's own
// browser download cannot work without internet). When it is missing, it is installed with
// apt-get if this runs as root; otherwise the run stops and says how. Never skipped.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";

/** The Chromium the tests launch; CHROMIUM_PATH picks another (say, a Chrome build). */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

const HOW = `Install it with \`sudo apt-get install -y chromium\` (Debian, Ubuntu), or set CHROMIUM_PATH to a Chromium or Chrome binary, then run npm test again.`;

export default function ensureChromium(): void {
  if (existsSync(CHROMIUM)) return;
  if (process.env.CHROMIUM_PATH !== undefined || process.getuid?.() !== 0) {
    throw new Error(`The browser tests need Chromium at ${CHROMIUM}, and it is not there. ${HOW}`);
  }
  console.log("The browser tests need Chromium: installing Debian's chromium package (apt-get)…");
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  for (const args of [["update"], ["install", "-y", "chromium"]]) {
    const run = spawnSync("apt-get", args, { stdio: "inherit", env });
    if (run.error !== undefined || run.status !== 0) {
      throw new Error(`\`apt-get ${args.join(" ")}\` failed, so Chromium is missing. ${HOW}`);
    }
  }
  if (!existsSync(CHROMIUM)) {
    throw new Error(`apt-get installed chromium, but not at ${CHROMIUM}. ${HOW}`);
  }
}
