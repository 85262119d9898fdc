// A throwaway copy of this project, run the way a user runs it: `npm run dev` in the copy's
// folder, with the copy's own .dev.vars. Node only; everything listens on 127.0.0.1.
import { type ChildProcess, spawn } from "node:child_process";
import { cpSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const ROOT = resolve(import.meta.dirname, "../../..");
const COPIED = [
  "src",
  "scripts",
  "samples",
  "migrations",
  "package.json",
  "wrangler.toml",
  "tsconfig.json",
  ".dev.vars.example",
];

export interface DevServer {
  url: string;
  dir: string;
  /** The environment to run `npm run send` and the like with, next to this server. */
  env: Record<string, string>;
  output: () => string;
  stop: () => Promise<void>;
}

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
  const address = server.address();
  await new Promise((done) => server.close(done));
  if (address === null || typeof address === "string") throw new Error("no port");
  return address.port;
}

/** `vars` as a .dev.vars-style file: single quotes keep JSON as it is (dotenv does not unescape
 * \" inside double quotes). */
export function varsFile(vars: Record<string, string>): string {
  return `${Object.entries(vars)
    .map(([key, value]) => `${key}='${value}'`)
    .join("\n")}\n`;
}

/** A copy of the project in a new temporary folder, with `devVars` as its .dev.vars (if given). */
export function copyProject(devVars?: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), "midhook-copy-"));
  for (const name of COPIED) cpSync(join(ROOT, name), join(dir, name), { recursive: true });
  symlinkSync(join(ROOT, "node_modules"), join(dir, "node_modules"));
  if (devVars) writeFileSync(join(dir, ".dev.vars"), varsFile(devVars));
  return dir;
}

/** Copies the project, writes `devVars` as its .dev.vars, and runs `npm run dev` in it. */
export async function startDevServer(devVars: Record<string, string>): Promise<DevServer> {
  const dir = copyProject(devVars);
  const port = await freePort();
  const samplesPort = await freePort();
  const child: ChildProcess = spawn(
    "npm",
    ["run", "dev", "--", "--ip", "127.0.0.1", "--port", String(port), "--inspector-port", "0"],
    {
      cwd: dir,
      env: { ...process.env, ...devEnv(samplesPort) },
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    },
  );
  let output = "";
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-65_536);
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  const stop = async () => {
    if (child.pid !== undefined && child.exitCode === null) {
      const exited = new Promise((done) => child.once("exit", done));
      process.kill(-child.pid, "SIGKILL");
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) {
      await stop();
      throw new Error(`npm run dev exited:\n${output}`);
    }
    const up = await fetch(`${url}/healthz`).then(
      (r) => r.ok,
      () => false,
    );
    if (up) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`npm run dev did not answer within 60 s:\n${output}`);
    }
    await new Promise((done) => setTimeout(done, 200));
  }
  return { url, dir, output: () => output, stop, env: devEnv(samplesPort) };
}

/** What a command run beside the dev server needs: its sample image port among them. */
function devEnv(samplesPort: number): Record<string, string> {
  return {
    WRANGLER_SEND_METRICS: "false",
    CI: "true",
    NO_COLOR: "1",
    SAMPLE_IMAGES_PORT: String(samplesPort),
  };
}
