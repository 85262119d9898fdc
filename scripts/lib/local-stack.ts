// The pieces every local run (demo, bench, chaos) is made of: `wrangler dev` in a private state
// directory, a fake GoAPI (image host and webhook sender) and a downstream receiver that
// verifies Standard Webhooks signatures. Node only; everything listens on 127.0.0.1.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { Webhook } from "standardwebhooks";

export { pngImage } from "./png";

const ROOT = resolve(import.meta.dirname, "../..");

/** A port the OS says is free right now. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
  const { port } = server.address() as AddressInfo;
  await new Promise((done) => server.close(done));
  return port;
}

export interface LocalWorker {
  url: string;
  port: number;
  /** The workerd process serving the Worker (for memory readings), when found. */
  workerdPid: () => number | null;
  stateDir: string;
  process: ChildProcess;
  /** Everything wrangler printed, for a failure report. */
  output: () => string;
  /** Stops wrangler (SIGKILL when `hard`), keeping the state directory. */
  stop: (hard?: boolean) => Promise<void>;
}

export interface WorkerOptions {
  vars: Record<string, string>;
  /** Another wrangler config than the project's (the benchmark's R2 yardstick). */
  config?: string;
  port?: number;
  /** Reuse a state directory (a restart); a new temporary one by default. */
  stateDir?: string;
}

/** Process groups of every wrangler started here, killed if this process exits first. */
const running = new Set<number>();
const killAll = () => {
  for (const pgid of running) {
    try {
      process.kill(-pgid, "SIGKILL");
    } catch {
      // already gone
    }
  }
};
process.once("exit", killAll);
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
  process.once(signal, () => {
    killAll();
    process.exit(130);
  });
}

/** Starts `wrangler dev` with `vars` and waits until /healthz answers. */
export async function startWorker(options: WorkerOptions): Promise<LocalWorker> {
  const stateDir = options.stateDir ?? mkdtempSync(join(tmpdir(), "midhook-"));
  const port = options.port ?? (await freePort());
  const child = spawn(
    join(ROOT, "node_modules/.bin/wrangler"),
    [
      "dev",
      ...(options.config ? ["--config", options.config] : []),
      "--ip",
      "127.0.0.1",
      "--port",
      String(port),
      "--inspector-port",
      String(await freePort()),
      "--persist-to",
      join(stateDir, "state"),
      // --var wins over wrangler.toml and .dev.vars (an --env-file is skipped when .dev.vars exists).
      ...Object.entries(options.vars).flatMap(([key, value]) => ["--var", `${key}:${value}`]),
      "--show-interactive-dev-session=false",
      "--log-level",
      "warn",
    ],
    {
      cwd: ROOT,
      env: { ...process.env, WRANGLER_SEND_METRICS: "false", CI: "true", NO_COLOR: "1" },
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    },
  );
  if (child.pid !== undefined) running.add(child.pid);
  // The last 64 KiB of what wrangler printed, for failure reports.
  let output = "";
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-65_536);
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  const url = `http://127.0.0.1:${port}`;
  const stop = async (hard = false) => {
    if (child.exitCode !== null || child.pid === undefined) return;
    const exited = new Promise((done) => child.once("exit", done));
    try {
      // The whole process group: wrangler and the workerd it started.
      process.kill(-child.pid, hard ? "SIGKILL" : "SIGTERM");
    } catch {
      return;
    }
    await Promise.race([exited, sleep(5000)]);
    if (child.exitCode === null) process.kill(-child.pid, "SIGKILL");
    running.delete(child.pid);
  };
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`wrangler dev exited:\n${output}`);
    try {
      // Any answer means it is serving (the benchmark's yardstick Worker has no /healthz).
      const response = await fetch(`${url}/healthz`);
      await response.arrayBuffer();
      if (response.status < 500) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop(true);
      throw new Error(`wrangler dev did not start within 60 s:\n${output}`);
    }
    await sleep(200);
  }
  const workerdPid = () => {
    const list = spawnSync("ps", ["-o", "pid=,comm=", "-g", String(child.pid)], {
      encoding: "utf8",
    });
    const line = list.stdout.split("\n").find((l) => l.trim().endsWith("workerd"));
    return line ? Number(line.trim().split(/\s+/)[0]) : null;
  };
  return { url, port, stateDir, process: child, output: () => output, stop, workerdPid };
}

/** Removes a state directory made by startWorker. */
export function removeState(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((done) => setTimeout(done, ms));
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
  return (server.address() as AddressInfo).port;
}

function close(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((done) => server.close(() => done()));
}

export interface ImageHost {
  /** host:port, for IMAGE_HOSTS. */
  host: string;
  /** Registers bytes at `path`; returns the URL. */
  add: (path: string, bytes: Buffer, contentType?: string) => string;
  requests: () => number;
  /** When the last byte of `path` was handed to the socket (performance.now()). */
  servedAt: (path: string) => number | undefined;
  stop: () => Promise<void>;
}

/** The fake GoAPI/Discord CDN that result image URLs point at. */
export async function startImageHost(): Promise<ImageHost> {
  const files = new Map<string, { bytes: Buffer; type: string }>();
  const served = new Map<string, number>();
  let requests = 0;
  const server = createServer((req, res) => {
    requests++;
    const file = files.get(req.url ?? "");
    if (!file) {
      res.writeHead(404).end("not found");
      return;
    }
    res.writeHead(200, { "content-type": file.type, "content-length": file.bytes.length });
    res.end(file.bytes, () => served.set(req.url ?? "", performance.now()));
  });
  const port = await listen(server);
  return {
    host: `127.0.0.1:${port}`,
    add: (path, bytes, type = "image/png") => {
      files.set(path, { bytes, type });
      return `http://127.0.0.1:${port}${path}`;
    },
    requests: () => requests,
    servedAt: (path) => served.get(path),
    stop: () => close(server),
  };
}

export interface ReceivedEvent {
  webhookId: string;
  type: string;
  taskId: string;
  verified: boolean;
  receivedAt: number;
  body: Record<string, unknown>;
}

export interface Receiver {
  url: string;
  events: ReceivedEvent[];
  /** Answers 503 while down (a downstream outage). */
  setDown: (down: boolean) => void;
  stop: () => Promise<void>;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((done, fail) => {
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (chunk) => {
      body += chunk;
    });
    req.on("end", () => done(body));
    req.on("error", fail);
  });
}

/** A downstream service: verifies each delivery's Standard Webhooks signature with `secret`. */
export async function startReceiver(secret: string): Promise<Receiver> {
  const events: ReceivedEvent[] = [];
  const webhook = new Webhook(secret);
  let down = false;
  const server = createServer(async (req, res) => {
    const body = await readBody(req);
    if (down) {
      res.writeHead(503).end("down");
      return;
    }
    let verified = true;
    let parsed: Record<string, unknown> = {};
    try {
      parsed = webhook.verify(body, {
        "webhook-id": String(req.headers["webhook-id"]),
        "webhook-timestamp": String(req.headers["webhook-timestamp"]),
        "webhook-signature": String(req.headers["webhook-signature"]),
      }) as Record<string, unknown>;
    } catch {
      verified = false;
    }
    const data = (parsed.data ?? {}) as { task_id?: string };
    events.push({
      webhookId: String(req.headers["webhook-id"]),
      type: String(parsed.type ?? "unverified"),
      taskId: String(data.task_id ?? ""),
      verified,
      receivedAt: performance.now(),
      body: parsed,
    });
    res.writeHead(verified ? 204 : 400).end();
  });
  const port = await listen(server);
  return {
    url: `http://127.0.0.1:${port}/hooks`,
    events,
    setDown: (value) => {
      down = value;
    },
    stop: () => close(server),
  };
}

/**
 * Posts one webhook the way GoAPI does: the secret in x-webhook-secret, and up to 3 more tries
 * with growing delays on anything but 200. Returns the final status and JSON answer.
 */
export async function sendLikeGoapi(
  workerUrl: string,
  secret: string,
  body: unknown,
  retries = 3,
): Promise<{ status: number; json: Record<string, unknown> | null; tries: number }> {
  let last = { status: 0, json: null as Record<string, unknown> | null, tries: 0 };
  for (let attempt = 0; attempt <= retries; attempt++) {
    try {
      const response = await fetch(`${workerUrl}/webhooks/goapi`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-webhook-secret": secret },
        body: JSON.stringify(body),
      });
      const text = await response.text();
      last = { status: response.status, json: text ? JSON.parse(text) : null, tries: attempt + 1 };
      if (response.status === 200) return last;
    } catch {
      last = { status: 0, json: null, tries: attempt + 1 };
    }
    if (attempt < retries) await sleep(250 * 2 ** attempt);
  }
  return last;
}
