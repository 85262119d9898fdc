// `npm run bench`: midhook measured against yardsticks run on this machine in the same run.
// Prints a table and writes bench/results.json. Never part of `npm test`.
//
// Every Worker here (midhook, the floor, the R2 yardstick, the counting build) runs in the
// local runtime with the inspector off (scripts/lib/local-stack.ts says why).
import { spawnSync } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, tmpdir, totalmem } from "node:os";
import { dirname, join, resolve } from "node:path";
import autocannon from "autocannon";
import { v2Body } from "../scripts/lib/goapi-payloads";
import {
  buildWorker,
  diskDir,
  type ImageHost,
  type LocalWorker,
  pngImage,
  type Receiver,
  ramDisk,
  removeState,
  sendLikeGoapi,
  sleep,
  startImageHost,
  startReceiver,
  startWorker,
} from "../scripts/lib/local-stack";
import { cpuMs, newEventBody } from "./load";
import { PRICES, type Price } from "./prices";

const SECRET = "bench-goapi-secret";
const ADMIN = "bench-admin-token";
const KEY = `whsec_${randomBytes(24).toString("base64")}`;
const ROUND_SECONDS = Number(process.env.BENCH_ROUND_SECONDS ?? 5);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
/** Tasks in the cost section's scripted run (the counts are divided by it). */
const COST_TASKS = Number(process.env.BENCH_COST_TASKS ?? 5);
const CONNECTIONS = 10;
const MB = 1024 * 1024;
/** midhook's multipart part size (PART_BYTES in src/images/store.ts): the goal's memory bound. */
const PART_MIB = 8;
/** BENCH_ONLY=ingest,storm,e2e,archive,cost,health runs some sections (all by default). */
const ONLY = new Set((process.env.BENCH_ONLY ?? "ingest,storm,e2e,archive,cost,health").split(","));

type Results = Record<string, unknown>;
const results: Results = {};

/**
 * Every Worker runs from a bundle made once at the start (as `wrangler deploy` makes it), so
 * that no edit or install on the machine during the run restarts a Worker mid-measurement.
 */
const bundles = { midhook: "", floor: "", baseline: "", counting: "", countingConfig: "" };

function buildAll(): void {
  bundles.midhook = buildWorker("wrangler.toml");
  bundles.floor = buildWorker("bench/wrangler.floor.toml");
  bundles.baseline = buildWorker("bench/wrangler.r2-baseline.toml");
  bundles.countingConfig = countingConfig();
  bundles.counting = buildWorker(bundles.countingConfig);
}

function removeBundles(): void {
  for (const path of [bundles.midhook, bundles.floor, bundles.baseline, bundles.counting]) {
    if (path) removeState(dirname(path));
  }
  if (bundles.countingConfig) removeState(dirname(bundles.countingConfig));
}

/** The counting build's rows written per statement (do.rows_written.by.*), most first. */
function rowsWrittenByStatement(counts: Record<string, number>): Array<[string, number]> {
  const prefix = "do.rows_written.by.";
  return Object.entries(counts)
    .filter(([key]) => key.startsWith(prefix))
    .map(([key, rows]): [string, number] => [key.slice(prefix.length), rows])
    .sort((a, b) => b[1] - a[1]);
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}
const ms = (n: number) => Math.round(n * 10) / 10;
const ratio = (a: number, b: number) => Math.round((a / b) * 100) / 100;
const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;

async function admin(worker: LocalWorker, path: string): Promise<Record<string, unknown>> {
  const response = await fetch(`${worker.url}${path}`, {
    headers: { authorization: `Bearer ${ADMIN}` },
  });
  return (await response.json()) as Record<string, unknown>;
}

/** A Worker under load, with what its last ingest round sent (the next redelivery round replays it). */
interface Target {
  name: string;
  worker: LocalWorker;
  runId: string;
  next: number;
  lastRound: string[];
}

function target(name: string, worker: LocalWorker): Target {
  return { name, worker, runId: randomUUID().slice(0, 8), next: 0, lastRound: [] };
}

type Load = "healthz" | "ingest" | "redelivery";

interface Round {
  target: string;
  load: Load;
  rps: number;
  p50: number;
  p99: number;
  non200: number;
  /** Answers that said duplicate: true (all of a redelivery round, none of an ingest round). */
  duplicates: number;
  answers: number;
}

/**
 * One round of `load` against `t`. An ingest round sends distinct, realistic v2 progress events,
 * ten steps per task (a new task, so a new Durable Object, every ten requests); a redelivery
 * round sends again, in order and cycling, the events that the target's last ingest round
 * recorded: GoAPI's redelivery of an event already stored.
 */
async function round(
  t: Target,
  load: Load,
  seconds = ROUND_SECONDS,
  rate?: number,
): Promise<Round> {
  let duplicates = 0;
  let answers = 0;
  const onResponse = (_status: number, body: string) => {
    answers++;
    if (body.includes('"duplicate":true')) duplicates++;
  };
  const post = { "content-type": "application/json", "x-webhook-secret": SECRET };
  let requests: autocannon.Request[];
  if (load === "healthz") {
    requests = [{ method: "GET", path: "/healthz" }];
  } else if (load === "ingest") {
    const sent: string[] = [];
    t.lastRound = sent;
    requests = [
      {
        method: "POST",
        path: "/webhooks/goapi",
        headers: post,
        setupRequest: (req) => {
          const body = newEventBody(t.runId, t.next++);
          sent.push(body);
          return { ...req, body };
        },
        onResponse,
      },
    ];
  } else {
    // Leave out the last requests of the round: they may not have been answered.
    const replay = t.lastRound.slice(0, Math.max(1, t.lastRound.length - 2 * CONNECTIONS));
    let j = 0;
    requests = [
      {
        method: "POST",
        path: "/webhooks/goapi",
        headers: post,
        setupRequest: (req) => ({ ...req, body: replay[j++ % replay.length] }),
        onResponse,
      },
    ];
  }
  const result = await autocannon({
    url: t.worker.url,
    connections: CONNECTIONS,
    duration: seconds,
    ...(rate === undefined ? {} : { overallRate: rate }),
    requests,
  });
  return {
    target: t.name,
    load,
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    non200: result.non2xx + result.errors + result.timeouts,
    duplicates,
    answers,
  };
}

interface Figures {
  rps: number;
  p50_ms: number;
  p99_ms: number;
}

/**
 * Runs `ROUNDS` rounds of each of `plan`, in turn, with the order reversed every other round so
 * that drift on the shared machine falls on every column alike. Returns the mean of each.
 */
async function alternate(plan: Array<[Target, Load]>) {
  for (const [t, load] of plan) {
    if (load === "ingest") await round(t, load, Math.min(1, ROUND_SECONDS)); // warm-up
  }
  const rows: Round[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const order = r % 2 === 0 ? plan : [...plan].reverse();
    // A redelivery round replays the target's ingest round of the same pass: keep ingest first.
    const sorted = [
      ...order.filter(([, load]) => load !== "redelivery"),
      ...order.filter(([, load]) => load === "redelivery"),
    ];
    for (const [t, load] of sorted) {
      rows.push(await round(t, load));
      await sleep(1000);
    }
  }
  const figures = (name: string, load: Load): Figures & { non_200: number; duplicates: string } => {
    const mine = rows.filter((row) => row.target === name && row.load === load);
    return {
      rps: Math.round(mean(mine.map((row) => row.rps))),
      p50_ms: mean(mine.map((row) => row.p50)),
      p99_ms: mean(mine.map((row) => row.p99)),
      non_200: mine.reduce((a, row) => a + row.non200, 0),
      duplicates: `${mine.reduce((a, row) => a + row.duplicates, 0)} of ${mine.reduce((a, row) => a + row.answers, 0)}`,
    };
  };
  return { rows, figures };
}

/** Requests per second of the CPU rounds: below what either Worker serves on this machine. */
const CPU_RATE = Number(process.env.BENCH_CPU_RATE ?? 200);
/** After a CPU round, how long the work a request leaves behind (alarms, index writes) gets. */
const CPU_SETTLE_MS = 2500;

/** The CPU (ms) a local Worker's two workerd processes have used so far: its own, and the proxy's. */
function workerCpuMs(worker: LocalWorker): { own: number; proxy: number } {
  return { own: cpuMs(worker.workerdPid()), proxy: cpuMs(worker.proxyPid()) };
}

/**
 * CPU per request of `load` at a fixed rate: the CPU both workerd processes used during a round
 * and the settle after it (so the alarm runs and index writes a request causes are counted),
 * divided by the requests answered; and the same of the Worker's own workerd alone (the proxy
 * in front of it, which runs none of the Worker's code, left out). Steadier than throughput on
 * a shared machine, and what Cloudflare bills a Worker for.
 */
async function cpuPerRequest(
  t: Target,
  load: Load,
): Promise<{ ms: number; ownMs: number; requests: number }> {
  const before = workerCpuMs(t.worker);
  const row = await round(t, load, ROUND_SECONDS, CPU_RATE);
  await sleep(CPU_SETTLE_MS);
  const after = workerCpuMs(t.worker);
  const own = after.own - before.own;
  const both = own + after.proxy - before.proxy;
  const perRequest = (used: number) => Math.round((used / row.answers) * 1000) / 1000;
  return { ms: perRequest(both), ownMs: perRequest(own), requests: row.answers };
}

/** GOAPI_API_KEY set, against an API nobody answers: no poll falls due within a bench run. */
const RECONCILING = { GOAPI_API_KEY: "bench-goapi-key", GOAPI_API_BASE: "http://127.0.0.1:9" };

/** 1a. midhook's ingest against /healthz and against the floor, with the state on `dir`. */
async function ingestVsFloor(medium: "disk" | "ram_disk", dir: string) {
  const midhook = await startWorker({
    // Reconciliation on, as a user with an API key runs it: every event plans a poll.
    vars: { GOAPI_WEBHOOK_SECRET: SECRET, ADMIN_TOKEN: ADMIN, ...RECONCILING },
    persistTo: dir,
    bundle: bundles.midhook,
  });
  const floor = await startWorker({
    vars: {},
    config: "bench/wrangler.floor.toml",
    persistTo: dir,
    bundle: bundles.floor,
  }).catch(async (err) => {
    await midhook.stop();
    removeState(midhook.stateDir);
    throw err;
  });
  try {
    const m = target("midhook", midhook);
    const f = target("floor", floor);
    const plan: Array<[Target, Load]> = [
      // /healthz does not touch the state: measured once, with the state on disk.
      ...(medium === "disk" ? ([[m, "healthz"]] as Array<[Target, Load]>) : []),
      [m, "ingest"],
      [f, "ingest"],
      [m, "redelivery"],
      [f, "redelivery"],
    ];
    const { rows, figures } = await alternate(plan);
    // CPU per request, each load twice per Worker, alternating; the mean of the two.
    const cpu: Record<string, number[]> = {};
    for (let pass = 0; pass < 2; pass++) {
      const order: Array<[Target, Load]> = [
        [m, "ingest"],
        [f, "ingest"],
        [m, "redelivery"],
        [f, "redelivery"],
      ];
      for (const [t, load] of pass === 0
        ? order
        : [...order.slice(0, 2).reverse(), ...order.slice(2).reverse()]) {
        const key = `${t.name}_${load}`;
        const used = await cpuPerRequest(t, load);
        cpu[key] = [...(cpu[key] ?? []), used.ms];
        cpu[`${key}_own`] = [...(cpu[`${key}_own`] ?? []), used.ownMs];
      }
    }
    const cpuMean = (key: string) => Math.round(mean(cpu[key] ?? []) * 1000) / 1000;
    const cpuFigures = {
      rate: CPU_RATE,
      midhook_ingest_ms: cpuMean("midhook_ingest"),
      floor_ingest_ms: cpuMean("floor_ingest"),
      midhook_redelivery_ms: cpuMean("midhook_redelivery"),
      floor_redelivery_ms: cpuMean("floor_redelivery"),
      /** The Worker's own workerd only, without the proxy in front of it. */
      own_process: {
        midhook_ingest_ms: cpuMean("midhook_ingest_own"),
        floor_ingest_ms: cpuMean("floor_ingest_own"),
        midhook_redelivery_ms: cpuMean("midhook_redelivery_own"),
        floor_redelivery_ms: cpuMean("floor_redelivery_own"),
      },
      runs: cpu,
    };
    const ingest = figures("midhook", "ingest");
    const floorIngest = figures("floor", "ingest");
    const redelivery = figures("midhook", "redelivery");
    const floorRedelivery = figures("floor", "redelivery");
    const healthz = medium === "disk" ? figures("midhook", "healthz") : null;
    return {
      state_on: medium,
      state_dir: dir,
      connections: CONNECTIONS,
      round_seconds: ROUND_SECONDS,
      rounds: ROUNDS,
      healthz,
      midhook_ingest: ingest,
      floor_ingest: floorIngest,
      midhook_redelivery: redelivery,
      floor_redelivery: floorRedelivery,
      ingest_vs_floor: ratio(ingest.rps, floorIngest.rps),
      ingest_p99_vs_floor: ratio(ingest.p99_ms, floorIngest.p99_ms),
      redelivery_vs_floor: ratio(redelivery.rps, floorRedelivery.rps),
      redelivery_p99_vs_floor: ratio(redelivery.p99_ms, floorRedelivery.p99_ms),
      ingest_vs_healthz: healthz ? ratio(ingest.rps, healthz.rps) : null,
      ingest_p99_vs_healthz: healthz ? ratio(ingest.p99_ms, healthz.p99_ms) : null,
      cpu_per_request: cpuFigures,
      /** The floor's CPU per request over midhook's: 1 is the floor's cost, lower costs more. */
      ingest_cpu_floor_over_midhook: ratio(
        cpuFigures.floor_ingest_ms,
        cpuFigures.midhook_ingest_ms,
      ),
      redelivery_cpu_floor_over_midhook: ratio(
        cpuFigures.floor_redelivery_ms,
        cpuFigures.midhook_redelivery_ms,
      ),
      rounds_detail: rows,
    };
  } finally {
    await midhook.stop();
    await floor.stop();
    removeState(midhook.stateDir);
    removeState(floor.stateDir);
  }
}

/** 1b. Ingest against /healthz with one subscriber for every event (deliveries share the cores). */
async function ingestWithSubscriber(worker: LocalWorker) {
  const t = target("midhook", worker);
  const { rows, figures } = await alternate([
    [t, "healthz"],
    [t, "ingest"],
  ]);
  const healthz = figures("midhook", "healthz");
  const ingest = figures("midhook", "ingest");
  return {
    connections: CONNECTIONS,
    round_seconds: ROUND_SECONDS,
    rounds: ROUNDS,
    healthz,
    ingest,
    throughput_ratio: ratio(ingest.rps, healthz.rps),
    p99_ratio: ratio(ingest.p99_ms, healthz.p99_ms),
    non_200: healthz.non_200 + ingest.non_200,
    rounds_detail: rows,
  };
}

/** 2. 1,000 concurrent identical deliveries. */
async function duplicateStorm(worker: LocalWorker) {
  const taskId = `storm-${randomUUID()}`;
  const body = JSON.stringify(v2Body(taskId, "processing", { progress: 50 }));
  const started = performance.now();
  const answers = await Promise.all(
    Array.from({ length: 1000 }, async () => {
      const response = await fetch(`${worker.url}/webhooks/goapi`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-webhook-secret": SECRET },
        body,
      });
      return {
        status: response.status,
        json: (await response.json()) as { duplicate?: boolean; event?: string },
      };
    }),
  );
  const elapsed = performance.now() - started;
  const view = (await admin(worker, `/v1/tasks/${taskId}`)) as {
    events: Array<{ duplicates: number }>;
  };
  const summary = {
    deliveries: 1000,
    status_200: answers.filter((a) => a.status === 200).length,
    recorded_new: answers.filter((a) => a.json.duplicate === false).length,
    distinct_event_ids: new Set(answers.map((a) => a.json.event)).size,
    events_stored: view.events.length,
    duplicates_counted: view.events[0]?.duplicates ?? 0,
    elapsed_ms: Math.round(elapsed),
  };
  results.duplicate_storm = summary;
  return summary;
}

/** 3. From the webhook's 200 to the subscriber's receipt. */
async function endToEnd(worker: LocalWorker, images: ImageHost, receiver: Receiver) {
  const waitFor = async (eventId: string) => {
    const deadline = performance.now() + 20_000;
    for (;;) {
      const got = receiver.events.find((e) => e.webhookId === eventId);
      if (got) return got.receivedAt;
      if (performance.now() > deadline) throw new Error(`delivery of ${eventId} not received`);
      await sleep(1);
    }
  };
  const progress: Array<{ receive: number; delivery: number; total: number }> = [];
  for (let i = 0; i < 40; i++) {
    const taskId = `e2e-${randomUUID()}`;
    const sent = performance.now();
    const answer = await sendLikeGoapi(
      worker.url,
      SECRET,
      v2Body(taskId, "processing", { progress: 30 }),
      0,
    );
    const ok = performance.now();
    const received = await waitFor(String(answer.json?.event));
    progress.push({ receive: ok - sent, delivery: received - ok, total: received - sent });
  }
  const completed: Array<{ receive: number; archive: number; delivery: number; after200: number }> =
    [];
  const tile = pngImage(256, 256, [10, 120, 200]);
  const grid = Buffer.concat([pngImage(512, 512, [200, 40, 90]), randomBytes(400_000)]);
  for (let i = 0; i < 15; i++) {
    const taskId = `e2e-${randomUUID()}`;
    const paths = ["grid", "1", "2", "3", "4"].map((name) => `/e2e/${taskId}/${name}.png`);
    const urls = paths.map((path, j) => images.add(path, j === 0 ? grid : tile));
    const sent = performance.now();
    const answer = await sendLikeGoapi(
      worker.url,
      SECRET,
      v2Body(taskId, "finished", { imageUrl: urls[0], imageUrls: urls.slice(1) }),
      0,
    );
    const ok = performance.now();
    const received = await waitFor(String(answer.json?.event));
    const lastImage = Math.max(...paths.map((p) => images.servedAt(p) ?? ok));
    completed.push({
      receive: ok - sent,
      archive: lastImage - ok,
      delivery: received - lastImage,
      after200: received - ok,
    });
  }
  const stats = (values: number[]) => ({
    p50_ms: ms(percentile(values, 50)),
    p99_ms: ms(percentile(values, 99)),
  });
  const summary = {
    progress_events: {
      count: progress.length,
      receive: stats(progress.map((p) => p.receive)),
      delivery_after_200: stats(progress.map((p) => p.delivery)),
    },
    completed_events_5_images: {
      count: completed.length,
      receive: stats(completed.map((c) => c.receive)),
      archive: stats(completed.map((c) => c.archive)),
      delivery_after_archive: stats(completed.map((c) => c.delivery)),
      delivery_after_200: stats(completed.map((c) => c.after200)),
    },
  };
  results.end_to_end = summary;
  return summary;
}

function rssKiB(pid: number | null): number {
  if (pid === null) return Number.NaN;
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return match ? Number(match[1]) : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

/**
 * Samples the RSS of the workerd that runs the Worker (not the proxy in front of it) while
 * `work` runs; returns the peak growth above the start, and the proxy's, for comparison.
 */
async function peakRssDuring<T>(
  worker: LocalWorker,
  work: () => Promise<T>,
): Promise<{ value: T; peakKiB: number; baseKiB: number; proxyPeakKiB: number }> {
  const pid = worker.workerdPid();
  const proxy = worker.proxyPid();
  if (pid === null) throw new Error("the Worker's workerd process was not found");
  const base = rssKiB(pid);
  const proxyBase = rssKiB(proxy);
  let peak = base;
  let proxyPeak = proxyBase;
  let running = true;
  const sampler = (async () => {
    while (running) {
      peak = Math.max(peak, rssKiB(pid));
      proxyPeak = Math.max(proxyPeak, rssKiB(proxy));
      await sleep(10);
    }
  })();
  const value = await work();
  running = false;
  await sampler;
  return { value, peakKiB: peak - base, baseKiB: base, proxyPeakKiB: proxyPeak - proxyBase };
}

/**
 * 4. A 100 MB copy into R2 (fetch -> hash -> R2), against a plain R2 put of a request body of the
 * same size, both Workers with the inspector off. The first 100 MB run of each grows the
 * runtime's allocator; the second (warm) is the one compared.
 */
async function archiveLarge(
  worker: LocalWorker,
  baseline: LocalWorker,
  images: ImageHost,
  receiver: Receiver,
) {
  // Timed from the webhook's 200 to the subscriber's receipt of task.completed, which is sent
  // only once the copy is in R2 (the delivery itself adds a few ms, see section 3).
  const copy = async (size: number) => {
    const taskId = `archive-${randomUUID()}`;
    const url = images.add(`/big/${taskId}.png`, randomBytes(size));
    await sleep(2000); // let the runtime settle after the previous copy
    return peakRssDuring(worker, async () => {
      const body = v2Body(taskId, "finished", { imageUrl: url });
      const answer = await sendLikeGoapi(worker.url, SECRET, body, 0);
      const ok = performance.now();
      if (answer.status !== 200) throw new Error(`archive webhook answered ${answer.status}`);
      for (;;) {
        const got = receiver.events.find((e) => e.taskId === taskId);
        if (got) {
          const data = got.body.data as {
            images: Array<{ bytes: number | null; error: string | null }>;
          };
          if (data.images[0]?.bytes !== size)
            throw new Error(`archive failed: ${data.images[0]?.error}`);
          return got.receivedAt - ok;
        }
        if (performance.now() > ok + 300_000)
          throw new Error("archive did not finish in 5 minutes");
        await sleep(5);
      }
    });
  };
  const put = async (size: number) => {
    const bytes = randomBytes(size);
    await sleep(2000);
    return peakRssDuring(baseline, async () => {
      const started = performance.now();
      const response = await fetch(`${baseline.url}/`, {
        method: "PUT",
        body: bytes,
        headers: { "content-length": String(size) },
      });
      if (!response.ok) throw new Error(`baseline put answered ${response.status}`);
      await response.text();
      return performance.now() - started;
    });
  };
  // The yardstick's workerd is found after its first request.
  await fetch(`${baseline.url}/`).then((r) => r.arrayBuffer());
  const small = await copy(1 * MB);
  const cold = await copy(100 * MB);
  const plainCold = await put(100 * MB);
  // Warm runs, alternating, so that drift on the shared machine falls on both alike.
  const warm: Array<Awaited<ReturnType<typeof copy>>> = [];
  const plainWarm: Array<Awaited<ReturnType<typeof copy>>> = [];
  for (let i = 0; i < 2; i++) {
    warm.push(await copy(100 * MB));
    plainWarm.push(await put(100 * MB));
  }
  const rate = (size: number, millis: number) => ms(size / MB / (millis / 1000));
  const run = (r: Awaited<ReturnType<typeof copy>>, size = 100 * MB) => ({
    ms: Math.round(r.value),
    mb_per_s: rate(size, r.value),
    worker_rss_growth_mib: ms(r.peakKiB / 1024),
    proxy_rss_growth_mib: ms(r.proxyPeakKiB / 1024),
  });
  /** The mean time of the warm runs, and the largest memory growth among them. */
  const warmRuns = (runs: typeof warm) =>
    run({
      value: mean(runs.map((r) => r.value)),
      peakKiB: Math.max(...runs.map((r) => r.peakKiB)),
      proxyPeakKiB: Math.max(...runs.map((r) => r.proxyPeakKiB)),
      baseKiB: runs[0]?.baseKiB ?? Number.NaN,
    });
  const summary = {
    inspector: false,
    measured_process: "the workerd that runs the Worker (and the local R2), not the proxy",
    archive_1mb: run(small, 1 * MB),
    archive_100mb_first: run(cold),
    archive_100mb_warm: warmRuns(warm),
    plain_r2_put_100mb_first: run(plainCold),
    plain_r2_put_100mb_warm: warmRuns(plainWarm),
    speed_ratio: ratio(mean(plainWarm.map((r) => r.value)), mean(warm.map((r) => r.value))),
    speed_ratio_first: ratio(plainCold.value, cold.value),
    memory_bound_mib: PART_MIB,
    worker_rss_before_mib: ms((warm[0]?.baseKiB ?? Number.NaN) / 1024),
    warm_runs_detail: {
      archive: warm.map((r) => run(r)),
      plain_put: plainWarm.map((r) => run(r)),
    },
  };
  results.archive = summary;
  return summary;
}

/** The counting build of midhook's config: wrangler.toml as it is, with `main` at bench/counting-entry.ts. */
function countingConfig(): string {
  const dir = mkdtempSync(join(tmpdir(), "midhook-counting-"));
  const config = readFileSync("wrangler.toml", "utf8");
  if (!/^main = .*$/m.test(config)) throw new Error("wrangler.toml has no top-level main");
  const entry = JSON.stringify(resolve("bench/counting-entry.ts"));
  writeFileSync(join(dir, "wrangler.toml"), config.replace(/^main = .*$/m, `main = ${entry}`));
  return join(dir, "wrangler.toml");
}

/**
 * 6. How fast one subscription's SubscriberHealth takes failure reports: the most a single
 * subscription's failing attempts can be counted per second (healthy ones never reach it).
 */
async function healthThroughput() {
  const worker = await startWorker({
    config: bundles.countingConfig,
    bundle: bundles.counting,
    vars: { GOAPI_WEBHOOK_SECRET: SECRET },
  });
  try {
    const runs: Array<{ per_second: number; status_ms: number }> = [];
    for (let i = 0; i < 3; i++) {
      const response = await fetch(`${worker.url}/__bench/health?n=2000&width=20`);
      runs.push((await response.json()) as { per_second: number; status_ms: number });
    }
    const summary = {
      reports_per_second: Math.round(runs.reduce((a, r) => a + r.per_second, 0) / runs.length),
      status_ms: Math.round((runs.reduce((a, r) => a + r.status_ms, 0) / runs.length) * 100) / 100,
      runs,
    };
    results.subscriber_health = summary;
    return summary;
  } finally {
    await worker.stop();
    removeState(worker.stateDir);
  }
}

/**
 * 5. What a task costs, counted: a scripted task run against the counting build of midhook
 * (bench/counting-entry.ts), the counts read from it, priced with Cloudflare's published prices.
 */
async function costPerTask(images: ImageHost, receiver: Receiver) {
  const worker = await startWorker({
    config: bundles.countingConfig,
    bundle: bundles.counting,
    vars: {
      GOAPI_WEBHOOK_SECRET: SECRET,
      ADMIN_TOKEN: ADMIN,
      ...RECONCILING,
      IMAGE_HOSTS: images.host,
      BENCH_RECEIVER_SECRET: KEY,
      SUBSCRIPTIONS: JSON.stringify([
        {
          id: "bench",
          url: receiver.url,
          secret: "env:BENCH_RECEIVER_SECRET",
          events: ["task.created", "task.progress", "task.completed", "task.failed"],
        },
      ]),
    },
  });
  const counters = async (reset = false) => {
    const response = await fetch(`${worker.url}/__bench/counters`, {
      method: reset ? "DELETE" : "GET",
    });
    return (await response.json()) as Record<string, number>;
  };
  try {
    // GoAPI sends a task's events seconds apart: each is delivered before the next is sent, so
    // nothing is batched that would not be in production (the counts are an upper bound).
    const delivered = async (eventId: string) => {
      const deadline = performance.now() + 20_000;
      while (!receiver.events.some((e) => e.webhookId === eventId)) {
        if (performance.now() > deadline) throw new Error(`cost run: ${eventId} not delivered`);
        await sleep(5);
      }
    };
    const tile = pngImage(256, 256, [10, 120, 200]);
    const grid = pngImage(512, 512, [200, 40, 90]);
    const taskIds: string[] = [];
    let imageBytes = 0;
    await counters(true);
    const pid = worker.workerdPid();
    const cpuBefore = cpuMs(pid);
    for (let n = 0; n < COST_TASKS; n++) {
      const taskId = `cost-${randomUUID()}`;
      taskIds.push(taskId);
      const urls = ["grid", "1", "2", "3", "4"].map((name, i) =>
        images.add(`/cost/${taskId}/${name}.png`, i === 0 ? grid : tile),
      );
      imageBytes += grid.length + 4 * tile.length;
      const steps = [
        v2Body(taskId, "pending"),
        ...[25, 50, 75].map((p) => v2Body(taskId, "processing", { progress: p })),
        v2Body(taskId, "finished", { imageUrl: urls[0], imageUrls: urls.slice(1) }),
      ];
      for (const body of steps) {
        const answer = await sendLikeGoapi(worker.url, SECRET, body, 0);
        if (answer.status !== 200) throw new Error(`cost run: webhook answered ${answer.status}`);
        await delivered(String(answer.json?.event));
      }
      const again = await sendLikeGoapi(worker.url, SECRET, steps.at(-1), 0); // a redelivery
      if (again.json?.duplicate !== true) throw new Error("cost run: redelivery not a duplicate");
    }
    // Wait for the last acknowledgements and alarm runs: until nothing moves for 2 s.
    let last = JSON.stringify(await counters());
    for (let still = 0; still < 4; ) {
      await sleep(500);
      const now = JSON.stringify(await counters());
      still = now === last ? still + 1 : 0;
      last = now;
    }
    const cpu = cpuMs(pid) - cpuBefore;
    const counted = JSON.parse(last) as Record<string, number>;
    // The counters live in the Worker's isolate: a restart of the runtime would lose them.
    const webhooks = counted["worker.requests.POST /webhooks/goapi"] ?? 0;
    if (worker.workerdPid() !== pid || webhooks !== 6 * COST_TASKS) {
      throw new Error(
        `cost run: counted ${webhooks} webhooks of ${6 * COST_TASKS} (workerd ${pid} -> ${worker.workerdPid()}); the counting Worker restarted?\n${worker.output()}`,
      );
    }
    const sizes = await Promise.all(
      taskIds.map(async (task) => {
        const response = await fetch(`${worker.url}/__bench/storage?task=${task}`);
        return ((await response.json()) as { bytes: number }).bytes;
      }),
    );
    const received = receiver.events.filter((e) => taskIds.includes(e.taskId)).length;
    const per = (key: string) => (counted[key] ?? 0) / COST_TASKS;
    const lines: Array<{ unit: string; per_task: number; price: Price }> = [
      {
        unit: "Workers requests (webhooks + queue consumer invocations)",
        per_task: per("worker.requests"),
        price: PRICES.workersRequests,
      },
      {
        unit: "Workers CPU ms (upper bound: the whole local runtime's CPU)",
        per_task: cpu / COST_TASKS,
        price: PRICES.workersCpuMs,
      },
      {
        unit: "Durable Object requests (RPC calls + alarm runs)",
        per_task: per("do.requests"),
        price: PRICES.doRequests,
      },
      {
        unit: "Durable Object duration, GB-s (128 MB x active wall time)",
        per_task: (per("do.active_ms") / 1000) * 0.125,
        price: PRICES.doDurationGbS,
      },
      { unit: "SQLite rows read", per_task: per("do.rows_read"), price: PRICES.sqlRowsRead },
      {
        unit: "SQLite rows written (incl. 1 per setAlarm)",
        per_task: per("do.rows_written") + per("do.set_alarm"),
        price: PRICES.sqlRowsWritten,
      },
      {
        unit: "Queue operations (64 KB writes + reads + deletes)",
        per_task: per("queue.write_ops") + per("queue.read_ops") + per("queue.delete_ops"),
        price: PRICES.queueOperations,
      },
      { unit: "R2 Class A operations", per_task: per("r2.class_a"), price: PRICES.r2ClassA },
      { unit: "R2 Class B operations", per_task: per("r2.class_b"), price: PRICES.r2ClassB },
      { unit: "D1 rows read", per_task: per("d1.rows_read"), price: PRICES.d1RowsRead },
      { unit: "D1 rows written", per_task: per("d1.rows_written"), price: PRICES.d1RowsWritten },
    ];
    const priced = lines.map((line) => ({
      unit: line.unit,
      per_task: Math.round(line.per_task * 1000) / 1000,
      per_1000_tasks: Math.round(line.per_task * 1000 * 100) / 100,
      usd_per_million: line.price.usdPerMillion,
      usd_per_1000_tasks: (line.per_task * 1000 * line.price.usdPerMillion) / 1e6,
    }));
    const sqliteBytes = mean(sizes);
    const storage = {
      sqlite_bytes_per_task: Math.round(sqliteBytes),
      r2_bytes_per_task: Math.round(imageBytes / COST_TASKS),
      usd_per_1000_tasks_per_month_kept:
        ((sqliteBytes * 1000) / 1e9) * PRICES.sqlStorageGbMonth.usdPerMillion +
        ((imageBytes / COST_TASKS) * 1000 * PRICES.r2StorageGbMonth.usdPerMillion) / 1e9,
    };
    const summary = {
      scenario: `${COST_TASKS} tasks, each: created, 3 progress steps, completed with 5 images, 1 redelivery of the result; 1 subscriber for all events; each event delivered before the next is sent`,
      deliveries_received: received,
      deliveries_expected: COST_TASKS * 5,
      counts_per_task: Object.fromEntries(
        Object.entries(counted).map(([k, v]) => [k, Math.round((v / COST_TASKS) * 100) / 100]),
      ),
      billed: priced,
      usd_per_1000_tasks: priced.reduce((a, line) => a + line.usd_per_1000_tasks, 0),
      storage,
      prices: PRICES,
    };
    results.cost = summary;
    return summary;
  } finally {
    await worker.stop();
    removeState(worker.stateDir);
  }
}

function table(title: string, rows: Array<[string, string]>) {
  console.log(`\n${title}`);
  const width = Math.max(...rows.map(([k]) => k.length));
  for (const [k, v] of rows) console.log(`  ${k.padEnd(width)}  ${v}`);
}

const line = (r: Figures | null) =>
  r ? `${r.rps} req/s, p50 ${ms(r.p50_ms)} ms, p99 ${ms(r.p99_ms)} ms` : "-";

function printFloor(run: Awaited<ReturnType<typeof ingestVsFloor>>) {
  const where = run.state_on === "disk" ? "on disk" : "on a RAM disk";
  table(`1a. ingest, no subscribers, state ${where} (${run.state_dir})`, [
    ...(run.healthz ? ([["/healthz", line(run.healthz)]] as Array<[string, string]>) : []),
    ["midhook ingest", line(run.midhook_ingest)],
    ["floor ingest", line(run.floor_ingest)],
    ["midhook redelivery", line(run.midhook_redelivery)],
    ["floor redelivery", line(run.floor_redelivery)],
    ...(run.ingest_vs_healthz !== null
      ? ([
          ["ingest / healthz", `${run.ingest_vs_healthz} (p99 ${run.ingest_p99_vs_healthz})`],
        ] as Array<[string, string]>)
      : []),
    ["ingest / floor", `${run.ingest_vs_floor} (goal >= 0.9), p99 ${run.ingest_p99_vs_floor}`],
    [
      "redelivery / floor",
      `${run.redelivery_vs_floor} (goal >= 0.9), p99 ${run.redelivery_p99_vs_floor}`,
    ],
    [
      `CPU per request at ${run.cpu_per_request.rate} req/s`,
      `ingest: midhook ${run.cpu_per_request.midhook_ingest_ms} ms, floor ${run.cpu_per_request.floor_ingest_ms} ms (floor / midhook ${run.ingest_cpu_floor_over_midhook}); redelivery: midhook ${run.cpu_per_request.midhook_redelivery_ms} ms, floor ${run.cpu_per_request.floor_redelivery_ms} ms (${run.redelivery_cpu_floor_over_midhook})`,
    ],
    [
      "  the Worker's own workerd only",
      `ingest: midhook ${run.cpu_per_request.own_process.midhook_ingest_ms} ms, floor ${run.cpu_per_request.own_process.floor_ingest_ms} ms; redelivery: midhook ${run.cpu_per_request.own_process.midhook_redelivery_ms} ms, floor ${run.cpu_per_request.own_process.floor_redelivery_ms} ms`,
    ],
    [
      "non-200 answers",
      String(
        run.midhook_ingest.non_200 +
          run.floor_ingest.non_200 +
          run.midhook_redelivery.non_200 +
          run.floor_redelivery.non_200 +
          (run.healthz?.non_200 ?? 0),
      ),
    ],
    [
      "answered duplicate",
      `ingest: midhook ${run.midhook_ingest.duplicates}, floor ${run.floor_ingest.duplicates}; redelivery: midhook ${run.midhook_redelivery.duplicates}, floor ${run.floor_redelivery.duplicates}`,
    ],
  ]);
}

/**
 * The commit the run measures, marked "+changes" when the working tree differs from it; null
 * outside a git checkout.
 */
function measuredCommit(): string | null {
  const git = (...args: string[]) => spawnSync("git", args, { encoding: "utf8" });
  const head = git("rev-parse", "--short", "HEAD");
  if (head.status !== 0) return null;
  const changed = git("status", "--porcelain", "--untracked-files=no").stdout.trim() !== "";
  return `${head.stdout.trim()}${changed ? "+changes" : ""}`;
}

async function main() {
  const machine = {
    nproc: cpus().length,
    cpu: cpus()[0]?.model ?? "?",
    memory_gib: Math.round(totalmem() / 1024 ** 3),
    node: process.version,
    wrangler: (
      JSON.parse(readFileSync("node_modules/wrangler/package.json", "utf8")) as { version: string }
    ).version,
    inspector: false,
  };
  results.machine = machine;
  results.command = "npm run bench";
  results.commit = measuredCommit();
  results.at = new Date().toISOString();
  console.log(
    `midhook ${results.commit ?? "(no commit)"} bench on ${machine.nproc} cores (${machine.cpu}), ${machine.memory_gib} GiB, Node ${machine.node}, wrangler ${machine.wrangler}, inspector off`,
  );
  const built = performance.now();
  process.once("exit", removeBundles);
  buildAll();
  console.log(`bundled 4 Workers in ${Math.round((performance.now() - built) / 1000)} s`);
  const images = await startImageHost();
  const receiver = await startReceiver(KEY);
  const worker = await startWorker({
    bundle: bundles.midhook,
    vars: {
      GOAPI_WEBHOOK_SECRET: SECRET,
      ADMIN_TOKEN: ADMIN,
      IMAGE_HOSTS: images.host,
      MAX_IMAGE_BYTES: String(200 * MB),
      BENCH_RECEIVER_SECRET: KEY,
      SUBSCRIPTIONS: JSON.stringify([
        {
          id: "bench",
          url: receiver.url,
          secret: "env:BENCH_RECEIVER_SECRET",
          events: ["task.created", "task.progress", "task.completed", "task.failed"],
        },
      ]),
    },
  });
  const baseline = await startWorker({
    vars: {},
    config: "bench/wrangler.r2-baseline.toml",
    bundle: bundles.baseline,
  });
  try {
    if (ONLY.has("ingest")) {
      const ram = ramDisk();
      const media: Array<["disk" | "ram_disk", string]> = [["disk", diskDir()]];
      if (ram) media.push(["ram_disk", ram]);
      else console.log("\n(no /dev/shm here: the RAM disk comparison is skipped)");
      const floorRuns: Record<string, unknown> = {};
      for (const [medium, dir] of media) {
        const run = await ingestVsFloor(medium, dir);
        floorRuns[medium] = run;
        results.ingest_no_subscribers = floorRuns;
        printFloor(run);
      }
      const ingest = await ingestWithSubscriber(worker);
      results.ingest_one_subscriber = ingest;
      table("1b. ingest vs /healthz, one subscriber for every event (deliveries share the cores)", [
        ["/healthz", line(ingest.healthz)],
        ["ingest", line(ingest.ingest)],
        ["ingest / healthz", `${ingest.throughput_ratio}, p99 ${ingest.p99_ratio}`],
        ["non-200 answers", String(ingest.non_200)],
      ]);
    }
    await sleep(3000); // let the background deliveries of the load drain
    if (ONLY.has("storm")) {
      const storm = await duplicateStorm(worker);
      table("2. duplicate storm", [
        ["1000 identical deliveries", `${storm.status_200} answered 200 in ${storm.elapsed_ms} ms`],
        [
          "recorded as new",
          `${storm.recorded_new} (one event id: ${storm.distinct_event_ids === 1})`,
        ],
        ["stored", `${storm.events_stored} event, ${storm.duplicates_counted} duplicates counted`],
      ]);
    }
    if (ONLY.has("e2e")) {
      const e2e = await endToEnd(worker, images, receiver);
      table("3. end to end, 200 -> subscriber receipt", [
        [
          "progress: receive (send -> 200)",
          `p50 ${e2e.progress_events.receive.p50_ms} ms, p99 ${e2e.progress_events.receive.p99_ms} ms`,
        ],
        [
          "progress: 200 -> delivered",
          `p50 ${e2e.progress_events.delivery_after_200.p50_ms} ms, p99 ${e2e.progress_events.delivery_after_200.p99_ms} ms (goal p50 <= 150)`,
        ],
        [
          "completed: archive 5 images",
          `p50 ${e2e.completed_events_5_images.archive.p50_ms} ms, p99 ${e2e.completed_events_5_images.archive.p99_ms} ms`,
        ],
        [
          "completed: archive -> delivered",
          `p50 ${e2e.completed_events_5_images.delivery_after_archive.p50_ms} ms, p99 ${e2e.completed_events_5_images.delivery_after_archive.p99_ms} ms`,
        ],
        [
          "completed: 200 -> delivered",
          `p50 ${e2e.completed_events_5_images.delivery_after_200.p50_ms} ms, p99 ${e2e.completed_events_5_images.delivery_after_200.p99_ms} ms`,
        ],
      ]);
    }
    if (ONLY.has("cost")) {
      const cost = await costPerTask(images, receiver);
      const usd = (n: number) => `$${n < 0.01 ? n.toFixed(5) : n.toFixed(4)}`;
      table("5. what a task costs, counted from the run", [
        ["scenario", cost.scenario],
        [
          "deliveries received",
          `${cost.deliveries_received} of ${cost.deliveries_expected} expected`,
        ],
        ...cost.billed.map((b): [string, string] => [
          b.unit,
          `${b.per_task} per task, ${b.per_1000_tasks} per 1,000 tasks: ${usd(b.usd_per_1000_tasks)}`,
        ]),
        ["total per 1,000 tasks", usd(cost.usd_per_1000_tasks)],
        [
          "storage per task",
          `SQLite ${Math.round(cost.storage.sqlite_bytes_per_task / 1024)} KiB, R2 ${Math.round(cost.storage.r2_bytes_per_task / 1024)} KiB: ${usd(cost.storage.usd_per_1000_tasks_per_month_kept)} per 1,000 tasks per month kept`,
        ],
        ["SQLite rows written per task, by statement", ""],
        ...rowsWrittenByStatement(cost.counts_per_task).map(
          ([statement, rows]): [string, string] => [`  ${statement}`, String(rows)],
        ),
      ]);
    }
    if (ONLY.has("health")) {
      const health = await healthThroughput();
      table("6. one subscription's health object (failures only reach it)", [
        ["failure reports, 20 at once", `${health.reports_per_second} per second`],
        ["a consumer's cache refresh (status)", `${health.status_ms} ms`],
      ]);
    }
    if (ONLY.has("archive")) {
      const archive = await archiveLarge(worker, baseline, images, receiver);
      const show = (r: typeof archive.archive_1mb) =>
        `${r.ms} ms (${r.mb_per_s} MB/s), Worker's workerd RSS +${r.worker_rss_growth_mib} MiB (proxy +${r.proxy_rss_growth_mib} MiB)`;
      table("4. archive: 100 MB copy vs plain R2 put (inspector off)", [
        ["archive 1 MB", show(archive.archive_1mb)],
        ["archive 100 MB, first", show(archive.archive_100mb_first)],
        ["archive 100 MB, warm (mean of 2)", show(archive.archive_100mb_warm)],
        ["plain R2 put 100 MB, first", show(archive.plain_r2_put_100mb_first)],
        ["plain R2 put 100 MB, warm (mean of 2)", show(archive.plain_r2_put_100mb_warm)],
        [
          "archive speed / plain put",
          `${archive.speed_ratio} warm (goal >= 0.8), ${archive.speed_ratio_first} first`,
        ],
        ["memory bound", `one part: ${archive.memory_bound_mib} MiB`],
      ]);
    }
  } finally {
    writeFileSync("bench/results.json", `${JSON.stringify(results, null, 2)}\n`);
    console.log("\nwrote bench/results.json");
    await worker.stop();
    await baseline.stop();
    removeState(worker.stateDir);
    removeState(baseline.stateDir);
    await receiver.stop();
    await images.stop();
  }
}

main().catch((err) => {
  console.error("bench failed:", err instanceof Error ? err.stack : err);
  process.exit(1);
});
