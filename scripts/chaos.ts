// `npm run chaos`: midhook under faults, on this machine only. A fake GoAPI sends task events
// with redeliveries while the Worker (in the local runtime, ./lib/local-stack) is killed with
// SIGKILL and restarted on the same state several times, Queues refuses sends for a minute, task
// isolates crash while copying images, a broken SUBSCRIPTIONS is deployed for a few minutes, and
// the downstream receiver goes down for a while. At the end every event GoAPI got a 200 for
// must be recorded exactly once and delivered under one webhook-id (or listed as a dead
// letter), and no delivery may be stuck. About 5 minutes, bounded at about 8 (the local queue
// loses in-flight messages at each restart, and a lost message is sent again 3 minutes after
// it was due).
import { randomBytes, randomUUID } from "node:crypto";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { v2Body } from "./lib/goapi-payloads";
import {
  buildWorker,
  freePort,
  type LocalWorker,
  pngImage,
  removeState,
  sendLikeGoapi,
  sleep,
  startImageHost,
  startReceiver,
  startWorker,
} from "./lib/local-stack";

const SECRET = `chaos-${randomBytes(6).toString("hex")}`;
const ADMIN = `chaos-admin-${randomBytes(6).toString("hex")}`;
const KEY = `whsec_${randomBytes(24).toString("base64")}`;
const TASKS = Number(process.env.CHAOS_TASKS ?? 60);
const KILLS = Number(process.env.CHAOS_KILLS ?? 3);
const LOAD_SECONDS = 40;
const QUEUE_OUTAGE_SECONDS = Number(process.env.CHAOS_QUEUE_OUTAGE ?? 60);
const CRASH_SECONDS = Number(process.env.CHAOS_CRASH ?? 20);
const CONFIG_OUTAGE_SECONDS = Number(process.env.CHAOS_CONFIG_OUTAGE ?? 150);
const SETTLE_SECONDS = 360;
/** The second subscriber answers 503 from the start until then. */
const ABSENT_SECONDS = Number(process.env.CHAOS_ABSENT ?? 180);

/** wrangler.toml, with the Worker that can switch faults on (scripts/chaos/faulty-worker.ts). */
function faultyConfig(dir: string): string {
  const root = resolve(import.meta.dirname, "..");
  const main = join(root, "scripts/chaos/faulty-worker.ts");
  const text = readFileSync(join(root, "wrangler.toml"), "utf8").replace(
    /^main = .*$/m,
    `main = ${JSON.stringify(main)}`,
  );
  const path = join(dir, "wrangler.chaos.toml");
  writeFileSync(path, text);
  return path;
}

interface Sent {
  taskId: string;
  identity: string;
  event: string | null;
}

async function main() {
  const started = performance.now();
  const images = await startImageHost();
  const receiver = await startReceiver(KEY);
  // A second subscriber, down from the start until after the load: its subscription pauses,
  // its deliveries wait, and the probe that finds it back releases them.
  const absent = await startReceiver(KEY);
  absent.setDown(true);
  const port = await freePort();
  const vars = {
    GOAPI_WEBHOOK_SECRET: SECRET,
    ADMIN_TOKEN: ADMIN,
    IMAGE_HOSTS: images.host,
    CHAOS_RECEIVER_SECRET: KEY,
    SUBSCRIPTIONS: JSON.stringify([
      {
        id: "chaos",
        url: receiver.url,
        secret: "env:CHAOS_RECEIVER_SECRET",
        events: ["task.created", "task.progress", "task.completed", "task.failed"],
      },
      {
        id: "absent",
        url: absent.url,
        secret: "env:CHAOS_RECEIVER_SECRET",
        events: ["task.created", "task.progress", "task.completed", "task.failed"],
      },
    ]),
  };
  const broken = { ...vars, SUBSCRIPTIONS: '[{"id":"chaos","url":"ftp://broken"}]' };
  const stateDir = mkdtempSync(join(tmpdir(), "midhook-chaos-"));
  // However the run ends (a failure, Ctrl-C), its state goes; the bundle's goes with it too.
  process.once("exit", () => removeState(stateDir));
  const config = faultyConfig(stateDir);
  // Bundled once, as `wrangler deploy` would: every restart runs the same code, and nothing
  // edited on the machine meanwhile reloads the Worker in the middle of the run.
  const bundle = buildWorker(config);
  // Faults wanted now; sent again after every restart, which clears the Worker's module state.
  const wanted = { queue: false, crash: false };
  let configBroken = false;
  const start = async () => {
    const started = await startWorker({
      vars: configBroken ? broken : vars,
      port,
      stateDir,
      config,
      bundle,
    });
    await setFaults(started);
    return started;
  };
  const setFaults = async (target: LocalWorker) => {
    const response = await fetch(`${target.url}/__chaos/faults`, {
      method: "POST",
      body: JSON.stringify(wanted),
    });
    await response.arrayBuffer();
  };
  const bitten = { refused_sends: 0, crashes: 0 };
  /** Adds up how often the faults bit in `target` before it stops (its counts die with it). */
  const tally = async (target: LocalWorker) => {
    try {
      const counts = (await (await fetch(`${target.url}/__chaos/faults`)).json()) as typeof bitten;
      bitten.refused_sends += counts.refused_sends;
      bitten.crashes += counts.crashes;
    } catch {
      // not answering: nothing to add
    }
  };
  let worker: LocalWorker = await start();
  const sent: Sent[] = [];
  let refused = 0;
  let kills = 0;
  let restarting = false;
  const at = () => `${((performance.now() - started) / 1000).toFixed(1)}s`;
  console.log(
    `chaos: ${TASKS} tasks over ~${LOAD_SECONDS}s, ${KILLS} SIGKILLs, Queues down for ` +
      `${QUEUE_OUTAGE_SECONDS}s, isolates crashing mid-copy for ${CRASH_SECONDS}s, a broken ` +
      `SUBSCRIPTIONS for ${CONFIG_OUTAGE_SECONDS}s, receiver down for 10s`,
  );

  // The fake GoAPI: each task is pending, 3 progress steps, finished with an image, and a
  // redelivery of the result; tasks overlap.
  const image = pngImage(64, 64, [30, 60, 90]);
  const runTask = async (i: number, spacing = (LOAD_SECONDS * 1000) / TASKS) => {
    await sleep(i * spacing);
    const taskId = randomUUID();
    const url = images.add(`/chaos/${taskId}.png`, image);
    const steps: Array<[string, unknown]> = [
      ["pending:0", v2Body(taskId, "pending")],
      ...[30, 60, 90].map((p): [string, unknown] => [
        `processing:${p}`,
        v2Body(taskId, "processing", { progress: p }),
      ]),
      ["completed:100", v2Body(taskId, "finished", { imageUrl: url })],
      ["completed:100", v2Body(taskId, "finished", { imageUrl: url })],
    ];
    for (const [identity, body] of steps) {
      const answer = await sendLikeGoapi(worker.url, SECRET, body);
      if (answer.status === 200) sent.push({ taskId, identity, event: String(answer.json?.event) });
      else refused++;
      await sleep(300);
    }
  };
  const load = Promise.all(Array.from({ length: TASKS }, (_, i) => runTask(i)));

  // The faults.
  const faults = (async () => {
    for (let k = 0; k < KILLS; k++) {
      await sleep((LOAD_SECONDS * 1000) / (KILLS + 1));
      restarting = true;
      await tally(worker);
      await worker.stop(true);
      kills++;
      console.log(
        `  SIGKILL #${kills} at ${((performance.now() - started) / 1000).toFixed(1)}s; restarting on the same state`,
      );
      await sleep(500);
      worker = await start();
      restarting = false;
    }
  })();
  const switchFault = async (fault: keyof typeof wanted, on: boolean, note: string) => {
    wanted[fault] = on;
    if (!restarting) await setFaults(worker).catch(() => {});
    console.log(`  ${note} at ${at()}`);
  };
  const queueOutage = (async () => {
    await sleep(5_000);
    await switchFault("queue", true, "Queues refusing sends");
    await sleep(QUEUE_OUTAGE_SECONDS * 1000);
    await switchFault("queue", false, "Queues back");
  })();
  const crashes = (async () => {
    await sleep(12_000);
    await switchFault("crash", true, "task isolates crashing while copying images");
    await sleep(CRASH_SECONDS * 1000);
    await switchFault("crash", false, "no more crashes");
  })();
  const outage = (async () => {
    await sleep(LOAD_SECONDS * 400);
    receiver.setDown(true);
    console.log("  receiver down");
    await sleep(10_000);
    receiver.setDown(false);
    console.log("  receiver back");
  })();
  const absence = (async () => {
    await sleep(ABSENT_SECONDS * 1000);
    absent.setDown(false);
    console.log(`  the absent subscriber is back at ${at()}`);
  })();
  await Promise.all([load, faults, outage, queueOutage, crashes]);
  if (restarting) await sleep(1000);
  // A bad deploy: SUBSCRIPTIONS broken for a while, then fixed. Events keep being recorded.
  configBroken = true;
  await tally(worker);
  await worker.stop();
  worker = await start();
  console.log(`  deployed a broken SUBSCRIPTIONS at ${at()}; 10 more tasks arrive meanwhile`);
  await Promise.all([
    sleep(CONFIG_OUTAGE_SECONDS * 1000),
    ...Array.from({ length: 10 }, (_, i) => runTask(i, 1000)),
  ]);
  configBroken = false;
  await tally(worker);
  await worker.stop();
  worker = await start();
  console.log(`  deployed the fixed SUBSCRIPTIONS at ${at()}`);
  console.log(
    `load done: ${sent.length} events acknowledged with 200, ${refused} sends given up by GoAPI`,
  );

  // Settle: wait until every acknowledged event has reached the receiver.
  const acknowledged = new Map<string, Sent>();
  for (const s of sent) acknowledged.set(`${s.taskId}/${s.identity}`, s);
  const eventIds = new Set([...acknowledged.values()].map((s) => s.event));
  await absence;
  const deadline = performance.now() + SETTLE_SECONDS * 1000;
  let delivered = new Set<string>();
  let deliveredToAbsent = new Set<string>();
  while (performance.now() < deadline) {
    delivered = new Set(receiver.events.filter((e) => e.verified).map((e) => e.webhookId));
    deliveredToAbsent = new Set(absent.events.filter((e) => e.verified).map((e) => e.webhookId));
    const all = [...eventIds].map(String);
    if (all.every((id) => delivered.has(id) && deliveredToAbsent.has(id))) break;
    await sleep(1000);
  }
  // The absent subscriber: every event exactly once, none of it dead-lettered.
  const absentCounts = new Map<string, number>();
  for (const e of absent.events)
    absentCounts.set(e.webhookId, (absentCounts.get(e.webhookId) ?? 0) + 1);
  const absentMissing = [...eventIds].filter((id) => !absentCounts.has(String(id))).length;
  const absentTwice = [...absentCounts.values()].filter((n) => n > 1).length;

  const problems: string[] = [];
  let duplicatesRecorded = 0;
  let stuck = 0;
  let pendingDeliveries = 0;
  for (const taskId of new Set(sent.map((s) => s.taskId))) {
    const response = await fetch(`${worker.url}/v1/tasks/${taskId}`, {
      headers: { authorization: `Bearer ${ADMIN}` },
    });
    const view = (await response.json()) as {
      events: Array<{ id: string; status: string; progress: number; stale: boolean }>;
      deliveries: Array<{ event: string; state: string; next_attempt_at: string | null }>;
    };
    const identities = view.events.map((e) => `${e.status}:${e.progress}`);
    if (new Set(identities).size !== identities.length) duplicatesRecorded++;
    for (const s of sent.filter((x) => x.taskId === taskId)) {
      const recorded = view.events.filter((e) => e.id === s.event);
      if (recorded.length !== 1)
        problems.push(
          `${taskId} ${s.identity}: acknowledged event ${s.event} recorded ${recorded.length} times`,
        );
    }
    for (const d of view.deliveries) {
      if (d.state === "pending") pendingDeliveries++;
      if (d.state === "pending" && d.next_attempt_at === null) stuck++;
    }
  }
  const byWebhookId = new Map<string, Set<string>>();
  for (const e of receiver.events) {
    const key = `${e.taskId}/${e.type}/${JSON.stringify((e.body.data as { progress?: number })?.progress)}`;
    byWebhookId.set(key, (byWebhookId.get(key) ?? new Set()).add(e.webhookId));
  }
  const unstableIds = [...byWebhookId.values()].filter((ids) => ids.size > 1).length;
  const listResponse = await fetch(`${worker.url}/v1/dead-letters?limit=500`, {
    headers: { authorization: `Bearer ${ADMIN}` },
  });
  const deadLetters = (
    (await listResponse.json()) as { items: Array<{ event: string; subscription: string }> }
  ).items;
  const listed = new Set(deadLetters.map((d) => d.event));
  const absentDeadLetters = deadLetters.filter((d) => d.subscription === "absent").length;
  if (absentMissing > 0)
    problems.push(`${absentMissing} events never reached the absent subscriber`);
  if (absentTwice > 0) problems.push(`${absentTwice} events reached the absent subscriber twice`);
  if (absentDeadLetters > 0) {
    problems.push(`${absentDeadLetters} deliveries to the absent subscriber were dead-lettered`);
  }
  const missing = [...eventIds].filter(
    (id) => !delivered.has(String(id)) && !listed.has(String(id)),
  );
  if (missing.length > 0)
    problems.push(`${missing.length} acknowledged events neither delivered nor dead-lettered`);
  if (duplicatesRecorded > 0)
    problems.push(`${duplicatesRecorded} tasks recorded one identity twice`);
  if (unstableIds > 0)
    problems.push(`${unstableIds} events reached the receiver under more than one webhook-id`);
  if (stuck > 0) problems.push(`${stuck} deliveries are pending with no attempt scheduled`);

  const redundant = receiver.events.length - delivered.size;
  console.log("\nresult");
  await tally(worker);
  console.log(`  worker SIGKILLed and restarted      ${kills}`);
  console.log(`  queue sends refused                 ${bitten.refused_sends}`);
  console.log(`  task isolates crashed mid-copy      ${bitten.crashes}`);
  console.log(
    `  events acknowledged (200)           ${eventIds.size} distinct (${sent.length} acks incl. redeliveries)`,
  );
  console.log(
    `  recorded exactly once               ${eventIds.size - problems.filter((p) => p.includes("recorded")).length}`,
  );
  console.log(
    `  delivered (verified signature)      ${[...eventIds].filter((id) => delivered.has(String(id))).length}`,
  );
  console.log(`  listed as dead letters              ${listed.size}`);
  console.log(
    `  absent subscriber (down ${ABSENT_SECONDS}s)     ${deliveredToAbsent.size} delivered once, ${absentTwice} twice, ${absentMissing} missing, ${absentDeadLetters} dead letters`,
  );
  console.log(`  lost (neither)                      ${missing.length}`);
  console.log(`  extra deliveries (at-least-once)    ${redundant}`);
  console.log(
    `  stable webhook-id per event         ${unstableIds === 0 ? "yes" : `no (${unstableIds})`}`,
  );
  console.log(`  deliveries still pending / stuck    ${pendingDeliveries} / ${stuck}`);
  console.log(
    `  took                                ${((performance.now() - started) / 1000).toFixed(0)}s`,
  );

  await worker.stop();
  await receiver.stop();
  await absent.stop();
  await images.stop();
  if (problems.length > 0) {
    console.error(
      `\nCHAOS FAILED:\n${problems
        .slice(0, 20)
        .map((p) => `  - ${p}`)
        .join("\n")}`,
    );
    process.exitCode = 1;
  } else {
    console.log("\nall acknowledged events recorded once and delivered");
  }
}

main().catch((err) => {
  console.error("chaos failed:", err instanceof Error ? err.stack : err);
  process.exit(1);
});
