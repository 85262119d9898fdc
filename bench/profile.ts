// `npm run bench:profile`: where a new event's CPU goes in the Worker's own workerd, midhook and
// the floor side by side. Each Worker runs with its state on /dev/shm; Linux `perf` samples its
// workerd (cpu-clock, with call graphs) while new events arrive at a fixed rate, and for a while
// after (the alarms they leave behind). Each sample is put down to the runtime work its stack
// shows (a request, an object's RPC method, an alarm...): the first of KINDS that any of its
// frames matches, the most specific kinds first. Needs `perf` (Debian's linux-perf, installed
// here when running as root) and /dev/shm. Not part of `npm run bench`: perf is not on every
// machine, and this explains a figure rather than sets one.
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildWorker, ramDisk, removeState, sleep, startWorker } from "../scripts/lib/local-stack";
import { newEventSender } from "./load";

const SECRET = "bench-goapi-secret";
const RATE = Number(process.env.BENCH_PROFILE_RATE ?? 250);
const SECONDS = Number(process.env.BENCH_PROFILE_SECONDS ?? 8);
/** Samples per second: 2,000 requests give 10,000 or so samples per Worker. */
const FREQUENCY = 2000;

/** The kinds of work a sample can belong to, by a frame of its stack, most specific first. */
const KINDS: Array<[RegExp, string]> = [
  [/IoContext::run<workerd::\(anonymous namespace\)::WorkerEntrypoint::request/, "request"],
  [/IoContext::run<workerd::api::JsRpcTargetBase/, "rpc"],
  [/IoContext::run<workerd::api::ServiceWorkerGlobalScope::runAlarm/, "alarm"],
  [/Worker::Actor::ensureConstructedImpl/, "construct"],
  [/IoContext::run<workerd::IoContext::awaitIoImpl/, "resumed"],
  [/Worker::Actor::~Actor/, "teardown"],
  [/JobTaskWrapper|V8PlatformWrapper/, "background"],
];
const LABELS: Record<string, string> = {
  request: "a request's handler, up to its first await",
  resumed: "code resumed after an await (the body read, an RPC's answer, a fetch)",
  rpc: "an RPC method running in a Durable Object",
  construct: "a Durable Object's constructor (a task's tables)",
  alarm: "an alarm run, up to its first await",
  teardown: "a Durable Object torn down",
  background: "V8's background threads (garbage collection, compiling)",
  runtime: "the runtime's own work (I/O, scheduling, the HTTP server)",
  sqlite: "of all the above: in SQLite (compiling and running statements)",
};

/** Debian's perf, by its full path: never a program of the same name found on the PATH. */
const PERF = "/usr/bin/perf";

function ensurePerf(): void {
  if (spawnSync(PERF, ["--version"]).status === 0) return;
  const install = "apt-get install -y linux-perf";
  if (process.getuid?.() !== 0) throw new Error(`perf is needed: run \`${install}\` as root`);
  console.log(`perf is needed: running \`apt-get update && ${install}\``);
  spawnSync("/usr/bin/apt-get", ["update"], { stdio: "inherit" });
  spawnSync("/usr/bin/apt-get", ["install", "-y", "linux-perf"], { stdio: "inherit" });
  if (spawnSync(PERF, ["--version"]).status !== 0)
    throw new Error(`${install} did not install perf`);
}

/** CPU ms per request of each kind of work, from `perf script`'s text. */
function classify(text: string, requests: number): Record<string, number> {
  const samples: Record<string, number> = {};
  const count = (kind: string) => {
    samples[kind] = (samples[kind] ?? 0) + 1;
  };
  for (const block of text.split("\n\n")) {
    if (block.trim() === "") continue;
    count("total");
    const frames = block.split("\n").slice(1);
    const kind = KINDS.find(([pattern]) => frames.some((frame) => pattern.test(frame)))?.[1];
    count(kind ?? "runtime");
    if (/sqlite3_step|sqlite3Prepare|sqlite3_exec/.test(block)) count("sqlite");
  }
  const perRequest: Record<string, number> = {};
  for (const [kind, n] of Object.entries(samples)) {
    perRequest[kind] = Math.round((n / FREQUENCY / requests) * 1e6) / 1000;
  }
  return perRequest;
}

async function profile(config: string): Promise<Record<string, number>> {
  const dir = ramDisk();
  if (dir === null) throw new Error("no /dev/shm here: the profile runs with the state in RAM");
  const worker = await startWorker({
    // As in `npm run bench`: reconciliation on, against an API nobody answers (no poll falls due).
    vars: {
      GOAPI_WEBHOOK_SECRET: SECRET,
      ADMIN_TOKEN: "profile-admin-token",
      GOAPI_API_KEY: "profile-goapi-key",
      GOAPI_API_BASE: "http://127.0.0.1:9",
    },
    config,
    persistTo: dir,
    bundle: buildWorker(config),
  });
  const out = mkdtempSync(join(tmpdir(), "midhook-profile-"));
  try {
    const send = newEventSender(SECRET, RATE);
    const load = (seconds: number) => send(worker.url, seconds);
    await load(2); // warm-up
    await sleep(2500); // the warm-up's alarms run before the sampling starts
    const data = join(out, "perf.data");
    const pid = worker.workerdPid();
    if (pid === null) throw new Error(`the workerd of ${config} was not found`);
    const args = ["record", "-F", String(FREQUENCY), "-e", "cpu-clock", "-g", "-p", String(pid)];
    const perf = spawn(PERF, [...args, "-o", data], { stdio: ["ignore", "ignore", "inherit"] });
    // Listened to at once: perf may stop (refused, say) while the load runs.
    const stopped = new Promise<number | null>((done) => perf.once("exit", done));
    const result = await load(SECONDS);
    await sleep(2500); // the alarms the events leave behind
    perf.kill("SIGINT");
    const status = await stopped;
    const script = spawnSync(PERF, ["script", "-i", data], {
      encoding: "utf8",
      maxBuffer: 1024 * 1024 * 1024,
    });
    if (script.status !== 0 || !script.stdout.includes("\n\n")) {
      throw new Error(`perf recorded no samples of ${config}'s workerd (exit ${status})`);
    }
    return classify(script.stdout, result.requests.total);
  } finally {
    await worker.stop();
    removeState(worker.stateDir);
    rmSync(out, { recursive: true, force: true });
  }
}

ensurePerf();
const midhook = await profile("wrangler.toml");
const floor = await profile("bench/wrangler.floor.toml");
console.log(`CPU ms per new event in the Worker's own workerd, ${RATE} req/s, state on /dev/shm`);
console.log(`${"".padEnd(72)} midhook   floor`);
for (const kind of [...Object.keys(LABELS), "total"]) {
  const cell = (figures: Record<string, number>) => (figures[kind] ?? 0).toFixed(3).padStart(7);
  console.log(`${(LABELS[kind] ?? kind).padEnd(72)} ${cell(midhook)} ${cell(floor)}`);
}
