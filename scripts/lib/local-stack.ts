// The pieces every local run (demo, bench, chaos) is made of: the Worker in the local runtime
// (wrangler's API, inspector off) with a private state directory, a fake GoAPI (image host and
// webhook sender) and a downstream receiver that verifies Standard Webhooks signatures. Node
// only; everything listens on 127.0.0.1.

import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import {
  accessSync,
  constants,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statfsSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { Webhook } from "standardwebhooks";

export { gradientImage, pngImage } from "./png";

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
  /**
   * The workerd process that runs the Worker's code (and the local R2 and Durable Object
   * simulators), for memory and CPU readings; not the proxy in front of it. Null before the
   * first request has reached it.
   */
  workerdPid: () => number | null;
  /** The workerd process of the proxy in front of it (it runs none of the Worker's code). */
  proxyPid: () => number | null;
  stateDir: string;
  /** The Node process that started the Worker (wrangler's API); its group holds both workerd. */
  process: ChildProcess;
  /** Everything wrangler printed, for a failure report. */
  output: () => string;
  /** Stops the Worker (SIGKILL to the whole group when `hard`: a crash), keeping its state. */
  stop: (hard?: boolean) => Promise<void>;
}

export interface WorkerOptions {
  vars: Record<string, string>;
  /** Another wrangler config than the project's (the benchmark's yardsticks). */
  config?: string;
  port?: number;
  /** Reuse a state directory (a restart); a new temporary one by default. */
  stateDir?: string;
  /**
   * A bundle made by `buildWorker` to run instead of bundling the config's `main`. wrangler
   * otherwise keeps esbuild watching every file the bundle was made of (node_modules too) and
   * restarts the runtime when one changes, even with watching off: a long measurement on a
   * machine where someone edits or installs would lose the Worker's in-memory state mid-run.
   */
  bundle?: string;
  /**
   * Where a new state directory is made: the OS temporary directory by default (on disk on the
   * project's machines; `diskDir()` makes sure of it), or `ramDisk()` to take SQLite file
   * creation off the disk.
   */
  persistTo?: string;
}

/** tmpfs's magic number in statfs(2): a directory on it is in RAM. */
const TMPFS_MAGIC = 0x01021994;

function onTmpfs(dir: string): boolean {
  try {
    return statfsSync(dir).type === TMPFS_MAGIC;
  } catch {
    return false;
  }
}

/** A RAM-backed directory (`/dev/shm`) to hold local state, or null when there is none. */
export function ramDisk(): string | null {
  try {
    accessSync("/dev/shm", constants.W_OK);
    return statSync("/dev/shm").isDirectory() && onTmpfs("/dev/shm") ? "/dev/shm" : null;
  } catch {
    return null;
  }
}

/**
 * A directory on disk to hold local state: the OS temporary directory, or the project's
 * (ignored) `.wrangler/` where the temporary directory is itself in RAM.
 */
export function diskDir(): string {
  if (!onTmpfs(tmpdir())) return tmpdir();
  const dir = join(ROOT, ".wrangler", "local-state");
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** Process groups of every Worker started here, killed if this process exits first. */
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

/**
 * Starts the Worker in a child Node process through wrangler's programmatic API, the same
 * runtime as `wrangler dev` but with the inspector off. wrangler 4.86's `dev` always enables
 * DevTools network events: workerd then reports every 4 KiB of every outbound fetch response
 * to the inspector proxy, which buffers them while no DevTools window is attached. That
 * slows every outbound fetch (image copies, deliveries) and grows the proxy's memory by
 * several times a large image's size, none of which happens on Cloudflare. The CLI has no
 * switch for it; `unstable_startWorker({ dev: { inspector: false } })` does.
 * Reads `MIDHOOK_WORKER_OPTIONS` (JSON) from its environment; stops cleanly on SIGTERM.
 */
const RUNNER = `
const options = JSON.parse(process.env.MIDHOOK_WORKER_OPTIONS);
const { unstable_startWorker } = await import("wrangler");
const worker = await unstable_startWorker({
  config: options.config,
  ...(options.bundle ? { entrypoint: options.bundle, build: { bundle: false } } : {}),
  // A non-empty list: neither .dev.vars nor .env is read; the bindings below are the settings.
  envFiles: ["/nonexistent/.env"],
  bindings: Object.fromEntries(
    Object.entries(options.vars).map(([name, value]) => [name, { type: "plain_text", value }]),
  ),
  dev: {
    inspector: false,
    server: { hostname: "127.0.0.1", port: options.port },
    persist: options.persist,
    watch: false,
    liveReload: false,
    logLevel: "warn",
  },
});
let stopping = false;
process.on("SIGTERM", async () => {
  if (stopping) return;
  stopping = true;
  await worker.dispose().catch((err) => console.error(err));
  process.exit(0);
});
await worker.ready;
`;

/**
 * Bundles a Worker as `wrangler deploy` would (`--dry-run`, into a new temporary directory), for
 * `WorkerOptions.bundle`; returns the bundle's path. The directory is removed when the process
 * exits, however it exits (a failed run, Ctrl-C); a caller may remove it sooner.
 */
export function buildWorker(config = "wrangler.toml"): string {
  const outdir = mkdtempSync(join(tmpdir(), "midhook-build-"));
  process.once("exit", () => removeState(outdir));
  const build = spawnSync(
    join(ROOT, "node_modules/.bin/wrangler"),
    ["deploy", "--dry-run", "--outdir", outdir, "--config", config],
    {
      cwd: ROOT,
      env: { ...process.env, WRANGLER_SEND_METRICS: "false", CI: "true", NO_COLOR: "1" },
      encoding: "utf8",
    },
  );
  const bundles = readdirSync(outdir).filter((f) => f.endsWith(".js"));
  if (build.status !== 0 || bundles.length !== 1) {
    throw new Error(`building ${config} failed:\n${build.stdout}\n${build.stderr}`);
  }
  return join(outdir, String(bundles[0]));
}

/**
 * Applies migrations/ to the local D1 database kept under `persist`, as `npm run dev` does,
 * when `config` declares the index (the benchmark's yardsticks do not). Copies of wrangler.toml
 * elsewhere (chaos, the counting build) share its database id, so the project's own config and
 * migrations are used. Skipped when this state already has every migration.
 */
export function applyIndexMigrations(persist: string, config = "wrangler.toml"): void {
  const text = readFileSync(resolve(ROOT, config), "utf8");
  if (!/database_name\s*=\s*"midhook-index"/.test(text)) return;
  const applied = join(persist, "midhook-index-migrations.txt");
  const wanted = readdirSync(join(ROOT, "migrations")).sort().join("\n");
  if (existsSync(applied) && readFileSync(applied, "utf8") === wanted) return;
  const run = spawnSync(
    join(ROOT, "node_modules/.bin/wrangler"),
    ["d1", "migrations", "apply", "midhook-index", "--local", "--persist-to", persist],
    {
      cwd: ROOT,
      env: { ...process.env, WRANGLER_SEND_METRICS: "false", CI: "true", NO_COLOR: "1" },
      encoding: "utf8",
    },
  );
  if (run.status !== 0) {
    throw new Error(`applying the D1 migrations failed:\n${run.stdout}\n${run.stderr}`);
  }
  mkdirSync(persist, { recursive: true });
  writeFileSync(applied, wanted);
}

/** Starts the Worker with `vars` (inspector off, see RUNNER) and waits until it answers. */
export async function startWorker(options: WorkerOptions): Promise<LocalWorker> {
  const stateDir = options.stateDir ?? mkdtempSync(join(options.persistTo ?? tmpdir(), "midhook-"));
  applyIndexMigrations(join(stateDir, "state"), options.config);
  const port = options.port ?? (await freePort());
  const child = spawn(process.execPath, ["--input-type=module", "--eval", RUNNER], {
    cwd: ROOT,
    env: {
      ...process.env,
      MIDHOOK_WORKER_OPTIONS: JSON.stringify({
        config: options.config ?? "wrangler.toml",
        bundle: options.bundle,
        port,
        persist: join(stateDir, "state"),
        vars: options.vars,
      }),
      WRANGLER_SEND_METRICS: "false",
      // Offline: no request for Request.cf's data (a warning on every start otherwise).
      CLOUDFLARE_CF_FETCH_ENABLED: "false",
      CI: "true",
      NO_COLOR: "1",
    },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
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
      // SIGTERM lets wrangler stop both workerd; SIGKILL takes the whole group down at once.
      process.kill(hard ? -child.pid : child.pid, hard ? "SIGKILL" : "SIGTERM");
    } catch {
      return;
    }
    await Promise.race([exited, sleep(10_000)]);
    try {
      process.kill(-child.pid, "SIGKILL"); // anything left in the group
    } catch {
      // all gone
    }
    running.delete(child.pid);
  };
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the Worker exited:\n${output}`);
    try {
      // Any answer means it is serving (the benchmark's yardstick Workers have no /healthz).
      const response = await fetch(`${url}/healthz`);
      await response.arrayBuffer();
      if (response.status < 500) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop(true);
      throw new Error(`the Worker did not start within 60 s:\n${output}`);
    }
    await sleep(200);
  }
  // Two workerd run under the Node process: the proxy on our port, and the Worker's own.
  const workerd = (proxy: boolean) => {
    const list = spawnSync("ps", ["-o", "pid=,args=", "--ppid", String(child.pid)], {
      encoding: "utf8",
    });
    for (const line of list.stdout.split("\n")) {
      const match = /^\s*(\d+)\s+\S*workerd serve .*--socket-addr=entry=\S*:(\d+)/.exec(line);
      if (match && (match[2] === String(port)) === proxy) return Number(match[1]);
    }
    return null;
  };
  return {
    url,
    port,
    stateDir,
    process: child,
    output: () => output,
    stop,
    workerdPid: () => workerd(false),
    proxyPid: () => workerd(true),
  };
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

export interface FakeGoapiApi {
  /** Origin for GOAPI_API_BASE. */
  url: string;
  /** The API key it expects in x-api-key. */
  key: string;
  /** Task ids it created; the create bodies it received. */
  created: () => Array<{ taskId: string; body: Record<string, unknown> }>;
  /** Sets what `GET /api/v1/task/{id}` answers from now on (a unified-API task object). */
  setTask: (taskId: string, data: Record<string, unknown>) => void;
  /** How many times task `taskId` was fetched. */
  fetches: (taskId: string) => number;
  stop: () => Promise<void>;
}

/**
 * GoAPI's task API, faked: `POST /api/v1/task` creates a pending task (and sends no webhook:
 * the demo's lost webhooks), `GET /api/v1/task/{id}` answers whatever `setTask` last set.
 */
export async function startFakeGoapiApi(key: string): Promise<FakeGoapiApi> {
  const tasks = new Map<string, Record<string, unknown>>();
  const created: Array<{ taskId: string; body: Record<string, unknown> }> = [];
  const fetched = new Map<string, number>();
  const server = createServer(async (req, res) => {
    const answer = (status: number, body: unknown) =>
      res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
    if (req.headers["x-api-key"] !== key) {
      answer(401, { code: 401, data: null, message: "invalid api key" });
      return;
    }
    const path = req.url ?? "";
    if (req.method === "POST" && path === "/api/v1/task") {
      const body = JSON.parse(await readBody(req)) as Record<string, unknown>;
      const taskId = randomUUID();
      const task = {
        task_id: taskId,
        model: body.model,
        task_type: body.task_type,
        status: "pending",
        input: body.input,
        output: { progress: 0, image_url: "", image_urls: null, temporary_image_urls: [] },
        meta: {},
        error: { code: 0, message: "", raw_message: "" },
      };
      tasks.set(taskId, task);
      created.push({ taskId, body });
      answer(200, { code: 200, data: task, message: "success" });
      return;
    }
    const match = /^\/api\/v1\/task\/([^/]+)$/.exec(path);
    const task = match?.[1] ? tasks.get(match[1]) : undefined;
    if (req.method === "GET" && match?.[1] && task) {
      fetched.set(match[1], (fetched.get(match[1]) ?? 0) + 1);
      answer(200, { code: 200, data: task, message: "success" });
      return;
    }
    answer(404, { code: 404, data: null, message: "task not found" });
  });
  const port = await listen(server);
  return {
    url: `http://127.0.0.1:${port}`,
    key,
    created: () => [...created],
    setTask: (taskId, data) => {
      tasks.set(taskId, data);
    },
    fetches: (taskId) => fetched.get(taskId) ?? 0,
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
