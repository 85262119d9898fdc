// `npm run bench`: midhook measured against the runtime's own limits on this machine, in one run.
// Prints a table and writes bench/results.json. Never part of `npm test`.
import { randomBytes, randomUUID } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import autocannon from "autocannon";
import { v2Body } from "../scripts/lib/goapi-payloads";
import {
  type ImageHost,
  type LocalWorker,
  pngImage,
  type Receiver,
  removeState,
  sendLikeGoapi,
  sleep,
  startImageHost,
  startReceiver,
  startWorker,
} from "../scripts/lib/local-stack";

const SECRET = "bench-goapi-secret";
const ADMIN = "bench-admin-token";
const KEY = `whsec_${randomBytes(24).toString("base64")}`;
const ROUND_SECONDS = Number(process.env.BENCH_ROUND_SECONDS ?? 5);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const CONNECTIONS = 10;
const MB = 1024 * 1024;
/** BENCH_ONLY=ingest,storm,e2e,archive,cost runs some sections (all by default). */
const ONLY = new Set((process.env.BENCH_ONLY ?? "ingest,storm,e2e,archive,cost").split(","));

type Results = Record<string, unknown>;
const results: Results = {};

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}
const ms = (n: number) => Math.round(n * 10) / 10;

async function admin(worker: LocalWorker, path: string): Promise<Record<string, unknown>> {
  const response = await fetch(`${worker.url}${path}`, {
    headers: { authorization: `Bearer ${ADMIN}` },
  });
  return (await response.json()) as Record<string, unknown>;
}

/** 1. Ingest against /healthz on the same server, alternating rounds. */
async function ingestVsHealthz(worker: LocalWorker, label: string) {
  const runId = randomUUID().slice(0, 8);
  let n = 0;
  const round = (kind: "healthz" | "ingest") =>
    autocannon({
      url: worker.url,
      connections: CONNECTIONS,
      duration: ROUND_SECONDS,
      requests:
        kind === "healthz"
          ? [{ method: "GET", path: "/healthz" }]
          : [
              {
                method: "POST",
                path: "/webhooks/goapi",
                headers: { "content-type": "application/json", "x-webhook-secret": SECRET },
                // Distinct events: ten progress steps per task, like notify_progress.
                setupRequest: (req) => {
                  const i = n++;
                  const body = v2Body(`bench-${runId}-${Math.floor(i / 10)}`, "processing", {
                    progress: (i % 10) * 10,
                  });
                  return { ...req, body: JSON.stringify(body) };
                },
              },
            ],
    });
  const rows: Array<{ kind: string; rps: number; p50: number; p99: number; non200: number }> = [];
  for (let r = 0; r < ROUNDS; r++) {
    for (const kind of ["healthz", "ingest"] as const) {
      const result = await round(kind);
      rows.push({
        kind,
        rps: result.requests.average,
        p50: result.latency.p50,
        p99: result.latency.p99,
        non200: result.non2xx + result.errors + result.timeouts,
      });
      await sleep(1000);
    }
  }
  const mean = (kind: string, key: "rps" | "p50" | "p99") => {
    const values = rows.filter((row) => row.kind === kind).map((row) => row[key]);
    return values.reduce((a, b) => a + b, 0) / values.length;
  };
  const summary = {
    connections: CONNECTIONS,
    round_seconds: ROUND_SECONDS,
    rounds: ROUNDS,
    healthz: {
      rps: Math.round(mean("healthz", "rps")),
      p50_ms: mean("healthz", "p50"),
      p99_ms: mean("healthz", "p99"),
    },
    ingest: {
      rps: Math.round(mean("ingest", "rps")),
      p50_ms: mean("ingest", "p50"),
      p99_ms: mean("ingest", "p99"),
    },
    throughput_ratio: Math.round((mean("ingest", "rps") / mean("healthz", "rps")) * 100) / 100,
    p99_ratio: Math.round((mean("ingest", "p99") / mean("healthz", "p99")) * 100) / 100,
    non_200: rows.reduce((a, row) => a + row.non200, 0),
    rounds_detail: rows,
  };
  results[label] = summary;
  return summary;
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

/** Samples the workerd process's RSS while `work` runs; returns the peak above the start. */
async function peakRssDuring<T>(
  worker: LocalWorker,
  work: () => Promise<T>,
): Promise<{ value: T; peakKiB: number; baseKiB: number }> {
  const pid = worker.workerdPid();
  const base = rssKiB(pid);
  let peak = base;
  let running = true;
  const sampler = (async () => {
    while (running) {
      peak = Math.max(peak, rssKiB(pid));
      await sleep(10);
    }
  })();
  const value = await work();
  running = false;
  await sampler;
  return { value, peakKiB: peak - base, baseKiB: base };
}

/** 4. A 100 MB copy (run last: the local runtime keeps the memory it grew) into R2: memory and speed against a plain R2 put. */
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
  const small = await copy(1 * MB);
  const large = await copy(100 * MB);
  const plainSmall = await put(1 * MB);
  const plainLarge = await put(100 * MB);
  const rate = (size: number, millis: number) => ms(size / MB / (millis / 1000));
  const summary = {
    archive_1mb: { ms: Math.round(small.value), peak_rss_growth_mib: ms(small.peakKiB / 1024) },
    archive_100mb: {
      ms: Math.round(large.value),
      mb_per_s: rate(100 * MB, large.value),
      peak_rss_growth_mib: ms(large.peakKiB / 1024),
    },
    plain_r2_put_1mb: {
      ms: Math.round(plainSmall.value),
      peak_rss_growth_mib: ms(plainSmall.peakKiB / 1024),
    },
    plain_r2_put_100mb: {
      ms: Math.round(plainLarge.value),
      mb_per_s: rate(100 * MB, plainLarge.value),
      peak_rss_growth_mib: ms(plainLarge.peakKiB / 1024),
    },
    speed_ratio: Math.round((plainLarge.value / large.value) * 100) / 100,
    workerd_rss_before_mib: ms(large.baseKiB / 1024),
  };
  results.archive = summary;
  return summary;
}

/** 5. Billable operations for one completed task, counted from what the run recorded. */
async function costPerTask(worker: LocalWorker, images: ImageHost, receiver: Receiver) {
  const taskId = `cost-${randomUUID()}`;
  const urls = ["grid", "1", "2", "3", "4"].map((name) =>
    images.add(`/cost/${taskId}/${name}.png`, pngImage(128, 128, [1, 2, 3])),
  );
  const steps = [
    v2Body(taskId, "pending"),
    ...[25, 50, 75].map((p) => v2Body(taskId, "processing", { progress: p })),
    v2Body(taskId, "finished", { imageUrl: urls[0], imageUrls: urls.slice(1) }),
  ];
  for (const body of steps) await sendLikeGoapi(worker.url, SECRET, body, 0);
  await sendLikeGoapi(worker.url, SECRET, steps.at(-1), 0); // GoAPI redelivers the result once
  const deadline = Date.now() + 15_000;
  let view: {
    events: unknown[];
    images: unknown[];
    deliveries: Array<{ attempts: number; state: string }>;
  };
  for (;;) {
    view = (await admin(worker, `/v1/tasks/${taskId}`)) as typeof view;
    if (view.deliveries.length === 5 && view.deliveries.every((d) => d.state === "delivered"))
      break;
    if (Date.now() > deadline) throw new Error("cost run: deliveries did not finish");
    await sleep(50);
  }
  const webhooks = steps.length + 1;
  const deliveries = view.deliveries.length;
  const attempts = view.deliveries.reduce((a, d) => a + d.attempts, 0);
  const imageCount = view.images.length;
  const received = receiver.events.filter((e) => e.taskId === taskId).length;
  // Counted from the code paths (see BENCHMARKS.md): one RPC per webhook, one alarm run per new
  // event (plus one when the images are done), two RPCs per attempt (begin, record).
  const summary = {
    scenario:
      "1 task: created, 3 progress steps, completed with 5 images, 1 redelivery; 1 subscriber for all events",
    worker_requests: webhooks,
    queue_consumer_invocations_max: attempts,
    durable_object_requests: webhooks + (view.events.length + 1) + attempts * 2,
    r2_class_a: imageCount,
    r2_class_b_per_view_of_each_image: 1,
    queue_operations: deliveries * 3 + (attempts - deliveries) * 2,
    deliveries,
    delivered_to_receiver: received,
  };
  results.cost = summary;
  return summary;
}

function printIngest(title: string, run: Awaited<ReturnType<typeof ingestVsHealthz>>) {
  const line = (r: { rps: number; p50_ms: number; p99_ms: number }) =>
    `${r.rps} req/s, p50 ${ms(r.p50_ms)} ms, p99 ${ms(r.p99_ms)} ms`;
  table(title, [
    ["healthz", line(run.healthz)],
    ["ingest", line(run.ingest)],
    ["throughput ratio", `${run.throughput_ratio} (goal >= 0.5)`],
    ["p99 ratio", `${run.p99_ratio} (goal <= 3)`],
    ["non-200 answers", String(run.non_200)],
  ]);
}

function table(title: string, rows: Array<[string, string]>) {
  console.log(`\n${title}`);
  const width = Math.max(...rows.map(([k]) => k.length));
  for (const [k, v] of rows) console.log(`  ${k.padEnd(width)}  ${v}`);
}

async function main() {
  const machine = {
    nproc: cpus().length,
    cpu: cpus()[0]?.model ?? "?",
    memory_gib: Math.round(totalmem() / 1024 ** 3),
    node: process.version,
  };
  results.machine = machine;
  results.command = "npm run bench";
  results.at = new Date().toISOString();
  console.log(
    `midhook bench on ${machine.nproc} cores (${machine.cpu}), ${machine.memory_gib} GiB, Node ${machine.node}`,
  );
  const images = await startImageHost();
  const receiver = await startReceiver(KEY);
  const worker = await startWorker({
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
  const baseline = await startWorker({ vars: {}, config: "bench/wrangler.r2-baseline.toml" });
  try {
    if (ONLY.has("ingest")) {
      const alone = await startWorker({
        vars: { GOAPI_WEBHOOK_SECRET: SECRET, ADMIN_TOKEN: ADMIN },
      });
      const hot = await ingestVsHealthz(alone, "ingest_no_subscribers").finally(async () => {
        await alone.stop();
        removeState(alone.stateDir);
      });
      printIngest("1a. ingest vs /healthz, no subscribers (the hot path alone)", hot);
      const ingest = await ingestVsHealthz(worker, "ingest_one_subscriber");
      printIngest(
        "1b. ingest vs /healthz, one subscriber for every event (deliveries share the cores)",
        ingest,
      );
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
      const cost = await costPerTask(worker, images, receiver);
      table("5. billable operations per completed task", [
        ["scenario", cost.scenario],
        ["Workers requests (webhooks)", String(cost.worker_requests)],
        ["queue consumer invocations (at most)", String(cost.queue_consumer_invocations_max)],
        ["Durable Object requests", String(cost.durable_object_requests)],
        ["R2 class A (puts)", String(cost.r2_class_a)],
        ["queue operations", String(cost.queue_operations)],
        ["deliveries (received)", `${cost.deliveries} (${cost.delivered_to_receiver})`],
      ]);
    }
    if (ONLY.has("archive")) {
      const archive = await archiveLarge(worker, baseline, images, receiver);
      table("4. archive: 100 MB copy vs plain R2 put", [
        [
          "archive 1 MB",
          `${archive.archive_1mb.ms} ms, workerd RSS +${archive.archive_1mb.peak_rss_growth_mib} MiB`,
        ],
        [
          "archive 100 MB",
          `${archive.archive_100mb.ms} ms (${archive.archive_100mb.mb_per_s} MB/s), workerd RSS +${archive.archive_100mb.peak_rss_growth_mib} MiB`,
        ],
        [
          "plain R2 put 100 MB",
          `${archive.plain_r2_put_100mb.ms} ms (${archive.plain_r2_put_100mb.mb_per_s} MB/s), workerd RSS +${archive.plain_r2_put_100mb.peak_rss_growth_mib} MiB`,
        ],
        ["archive speed / plain put", String(archive.speed_ratio)],
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
