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
  "package.json",
  "wrangler.toml",
  "tsconfig.json",
  ".dev.vars.example",
];

export interface DevServer {
  url: string;
  dir: string;
  output: () => string;
  stop: () => Promise<void>;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
  const address = server.address();
  await new Promise((done) => server.close(done));
  if (address === null || typeof address === "string") throw new Error("no port");
  return address.port;
}

/** Copies the project, writes `devVars` as its .dev.vars, and runs `npm run dev` in it. */
export async function startDevServer(devVars: Record<string, string>): Promise<DevServer> {
  const dir = mkdtempSync(join(tmpdir(), "midhook-dev-"));
  for (const name of COPIED) cpSync(join(ROOT, name), join(dir, name), { recursive: true });
  symlinkSync(join(ROOT, "node_modules"), join(dir, "node_modules"));
  // Single quotes keep JSON as it is (dotenv does not unescape \" inside double quotes).
  const lines = Object.entries(devVars).map(([key, value]) => `${key}='${value}'`);
  writeFileSync(join(dir, ".dev.vars"), `${lines.join("\n")}\n`);
  const port = await freePort();
  const child: ChildProcess = spawn(
    "npm",
    ["run", "dev", "--", "--ip", "127.0.0.1", "--port", String(port), "--inspector-port", "0"],
    {
      cwd: dir,
      env: { ...process.env, WRANGLER_SEND_METRICS: "false", CI: "true", NO_COLOR: "1" },
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
  return { url, dir, output: () => output, stop };
}
