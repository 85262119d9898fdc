// `npm run demo`: midhook's whole flow on this machine. Starts the Worker in the local runtime
// (./lib/local-stack, inspector off), a fake GoAPI (image host, task API, webhook sender) and a
// downstream receiver, replays realistic task sequences, prints what happened, and exits
// non-zero if anything did not. Its state is the one `npm run dev` uses (.wrangler/state), so
// the console of `npm run dev` shows the demo's tasks.
import { createHash, randomBytes, randomUUID } from "node:crypto";
import { join, resolve } from "node:path";
import { v1Body, v2Body } from "./lib/goapi-payloads";
import {
  type FakeGoapiApi,
  gradientImage,
  type LocalWorker,
  type Receiver,
  removeState,
  sendLikeGoapi,
  sleep,
  startFakeGoapiApi,
  startImageHost,
  startReceiver,
  startWorker,
} from "./lib/local-stack";

const GOAPI_SECRET = `demo-goapi-${randomBytes(6).toString("hex")}`;
const ADMIN_TOKEN = `demo-admin-${randomBytes(6).toString("hex")}`;
const RECEIVER_KEY = `whsec_${randomBytes(24).toString("base64")}`;
const ALL_EVENTS = ["task.created", "task.progress", "task.completed", "task.failed"];

/** Where `npm run dev` keeps its local state (wrangler dev's default), and its console. */
const DEV_STATE_PARENT = resolve(import.meta.dirname, "../.wrangler");
const DEV_URL = "http://localhost:8787";

const problems: string[] = [];
const log = (line: string) => console.log(line);
const short = (id: string) => id.slice(0, 8);

function check(ok: boolean, problem: string): void {
  if (!ok) problems.push(problem);
}

interface Sent {
  label: string;
  taskId: string;
  status: number;
  json: Record<string, unknown> | null;
}

async function main(): Promise<void> {
  const started = performance.now();
  log("midhook demo: everything runs on 127.0.0.1, no Cloudflare account needed\n");
  const images = await startImageHost();
  const receiver = await startReceiver(RECEIVER_KEY);
  const api = await startFakeGoapiApi(`demo-key-${randomBytes(6).toString("hex")}`);
  log(`  fake GoAPI image host   http://${images.host}`);
  log(`  fake GoAPI task API     ${api.url} (creates tasks, sends no webhooks for them)`);
  log(`  downstream receiver     ${receiver.url} (verifies Standard Webhooks signatures)`);
  // Two runtimes must not share one state: while `npm run dev` runs, the demo keeps its own.
  const devRunning = await fetch(`${DEV_URL}/healthz`).then(
    () => true,
    () => false,
  );
  let worker: LocalWorker | undefined;
  try {
    worker = await startWorker({
      stateDir: devRunning ? undefined : DEV_STATE_PARENT,
      vars: {
        GOAPI_WEBHOOK_SECRET: GOAPI_SECRET,
        ADMIN_TOKEN,
        IMAGE_HOSTS: images.host,
        GOAPI_API_KEY: api.key,
        GOAPI_API_BASE: api.url,
        RECONCILE_AFTER_SECONDS: "2",
        DEMO_RECEIVER_SECRET: RECEIVER_KEY,
        SUBSCRIPTIONS: JSON.stringify([
          {
            id: "demo-receiver",
            url: receiver.url,
            secret: "env:DEMO_RECEIVER_SECRET",
            events: ALL_EVENTS,
          },
        ]),
      },
    });
    log(`  midhook (local)         ${worker.url}  state in ${worker.stateDir}\n`);
    await runScenarios(worker, images.add, receiver, api);
  } finally {
    await worker?.stop();
    if (worker && devRunning) removeState(worker.stateDir);
    await receiver.stop();
    await images.stop();
    await api.stop();
  }
  log(`\ndone in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  if (problems.length > 0) {
    console.error(`\nDEMO FAILED: ${problems.length} problem(s)`);
    for (const p of problems) console.error(`  - ${p}`);
    process.exitCode = 1;
  } else {
    log("every scenario behaved as expected");
  }
  if (devRunning) {
    log(`\nconsole: ${DEV_URL}/ is already running; the demo kept its own state, so its tasks are`);
    log("not in that console. Stop npm run dev and run the demo again to see them there.");
  } else {
    log(`\nconsole: ${DEV_URL}/  (run \`npm run dev\`, sign in with ADMIN_TOKEN from .dev.vars:`);
    log(`         dev-admin-token on a fresh clone; the demo's tasks are in the gallery, kept in`);
    log(`         ${join(DEV_STATE_PARENT, "state")})`);
  }
}

async function runScenarios(
  worker: LocalWorker,
  addImage: (path: string, bytes: Buffer) => string,
  receiver: Receiver,
  api: FakeGoapiApi,
): Promise<void> {
  const sent: Sent[] = [];
  const send = async (label: string, taskId: string, body: unknown, secret = GOAPI_SECRET) => {
    const result = await sendLikeGoapi(worker.url, secret, body, secret === GOAPI_SECRET ? 3 : 0);
    const json = result.json ?? {};
    const note = json.duplicate
      ? "duplicate, dropped"
      : json.stale
        ? "stale, recorded only"
        : String(json.event ?? (json.error as { code?: string })?.code ?? "");
    log(`  → ${label.padEnd(44)} ${result.status}  ${note}`);
    sent.push({ label, taskId, status: result.status, json: result.json });
    return result;
  };
  const sources = new Map<string, string>();
  const image = (taskId: string, name: string, rgb: [number, number, number]) => {
    const bytes = gradientImage(512, 512, rgb, [rgb[2], rgb[0], rgb[1]]);
    const url = addImage(`/mj/${taskId}/${name}.png`, bytes);
    sources.set(url, createHash("sha256").update(bytes).digest("hex"));
    return url;
  };

  // 1. A v2 imagine with notify_progress, a redelivery and an out-of-order progress event.
  const a = randomUUID();
  log(`v2 imagine ${short(a)} (notify_progress)`);
  await send("pending", a, v2Body(a, "pending"));
  for (const progress of [20, 40, 60, 80])
    await send(`processing ${progress}%`, a, v2Body(a, "processing", { progress }));
  const tiles = [1, 2, 3, 4].map((i) => image(a, `tile${i}`, [40 * i, 90, 200]));
  const finished = v2Body(a, "finished", {
    imageUrl: image(a, "grid", [200, 80, 40]),
    imageUrls: tiles,
  });
  await send("finished (grid + 4 images)", a, finished);
  const dup = await send("finished again (GoAPI redelivery)", a, finished);
  check(
    dup.json?.duplicate === true,
    "the redelivered finished event was not reported as a duplicate",
  );
  const late = await send(
    "processing 60% arriving late",
    a,
    v2Body(a, "processing", { progress: 60 }),
  );
  check(
    late.json?.duplicate === true,
    "the late progress 60% was not a duplicate of the first one",
  );
  const stale = await send(
    "processing 90% after finished (stale)",
    a,
    v2Body(a, "processing", { progress: 90 }),
  );
  check(stale.json?.stale === true, "a progress event after completion was not marked stale");

  // 2. A v1 (unified API) imagine; its body echoes the webhook secret.
  const b = randomUUID();
  log(`\nv1 imagine ${short(b)} (unified API)`);
  await send("pending", b, v1Body(b, "pending", { secret: GOAPI_SECRET }));
  await send("processing 40%", b, v1Body(b, "processing", { progress: 40, secret: GOAPI_SECRET }));
  const temporary = [1, 2, 3, 4].map((i) => image(b, `crop${i}`, [90, 40 * i, 120]));
  await send(
    "completed (image + 4 temporary crops)",
    b,
    v1Body(b, "completed", {
      imageUrl: image(b, "main", [20, 160, 90]),
      temporaryImageUrls: temporary,
      secret: GOAPI_SECRET,
    }),
  );

  // 3. A failed task and 4. a describe task.
  const c = randomUUID();
  log(`\nv2 imagine ${short(c)} that fails`);
  await send(
    "failed (invalid parameter)",
    c,
    v2Body(c, "failed", { errors: ["Invalid parameter: `--foo`"] }),
  );
  const d = randomUUID();
  log(`\nv1 describe ${short(d)}`);
  await send("pending", d, v1Body(d, "pending", { taskType: "describe" }));
  await send(
    "completed (four prompts)",
    d,
    v1Body(d, "completed", { taskType: "describe", description: "1️⃣ a red fox in snow\n2️⃣ …" }),
  );

  // 5. Someone who does not know the secret.
  log("\nan impostor");
  const impostor = await send("finished with a wrong secret", randomUUID(), finished, "guess");
  check(impostor.status === 401, `a wrong secret was answered ${impostor.status}, not 401`);

  // 6. A task submitted through midhook whose webhooks never come: reconciliation finds it.
  log("\nv1 imagine submitted through midhook (POST /v1/tasks); GoAPI sends it no webhook");
  const submitted = await fetch(`${worker.url}/v1/tasks`, {
    method: "POST",
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
    body: JSON.stringify({
      model: "midjourney",
      task_type: "imagine",
      input: { prompt: "a lighthouse" },
    }),
  });
  const created = (await submitted.json()) as { task_id?: string; event?: string };
  const e = String(created.task_id);
  log(`  → ${"submitted".padEnd(44)} ${submitted.status}  ${created.event ?? ""}`);
  check(submitted.status === 201, `POST /v1/tasks was answered ${submitted.status}, not 201`);
  const webhook = api.created().at(-1)?.body.config as { webhook_config?: { endpoint?: string } };
  check(
    webhook?.webhook_config?.endpoint === `${worker.url}/webhooks/goapi`,
    "the task was not created with midhook as its webhook",
  );
  const lighthouse = [
    image(e, "main", [240, 200, 60]),
    ...[1, 2].map((i) => image(e, `t${i}`, [60, 90, 40 * i])),
  ];
  api.setTask(e, {
    task_id: e,
    model: "midjourney",
    task_type: "imagine",
    status: "completed",
    output: { progress: 100, image_url: lighthouse[0], image_urls: lighthouse.slice(1) },
    error: { code: 0, message: "", raw_message: "" },
  });
  log(`  … GoAPI finishes it silently; midhook polls after RECONCILE_AFTER_SECONDS (2 s here)`);

  const tasks = [
    {
      taskId: a,
      label: "v2 imagine",
      expected: [
        "task.created",
        "task.progress",
        "task.progress",
        "task.progress",
        "task.progress",
        "task.completed",
      ],
    },
    {
      taskId: b,
      label: "v1 imagine",
      expected: ["task.created", "task.progress", "task.completed"],
    },
    { taskId: c, label: "v2 failed", expected: ["task.failed"] },
    { taskId: d, label: "v1 describe", expected: ["task.created", "task.completed"] },
    { taskId: e, label: "v1 reconciled", expected: ["task.created", "task.completed"] },
  ];
  const total = tasks.flatMap((t) => t.expected).length;
  log(`\nwaiting for ${total} deliveries at the receiver…`);
  const deadline = Date.now() + 30_000;
  while (receiver.events.length < total && Date.now() < deadline) await sleep(100);
  await sleep(500); // anything extra (a duplicate or a stale event forwarded) would show now

  for (const s of sent) {
    if (s.label.includes("wrong secret")) continue;
    check(s.status === 200, `"${s.label}" for ${short(s.taskId)} was answered ${s.status}`);
  }

  // Images: archived, served by midhook, byte for byte.
  const rows: string[][] = [];
  let archived = 0;
  let archivedBytes = 0;
  for (const { taskId, label, expected } of tasks) {
    const view = (await (
      await fetch(`${worker.url}/v1/tasks/${taskId}`, {
        headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
      })
    ).json()) as {
      status: string;
      events: Array<{ duplicates: number; stale: boolean }>;
      images: Array<{
        name: string;
        url: string;
        state: string;
        bytes: number;
        sha256: string;
        source_url: string;
        error: string | null;
      }>;
      deliveries: Array<{ state: string }>;
    };
    for (const img of view.images) {
      check(
        img.state === "stored",
        `image ${img.name} of ${short(taskId)} is ${img.state}: ${img.error}`,
      );
      if (img.state !== "stored") continue;
      const served = Buffer.from(await (await fetch(img.url)).arrayBuffer());
      const hash = createHash("sha256").update(served).digest("hex");
      check(
        hash === sources.get(img.source_url),
        `served ${img.name} of ${short(taskId)} differs from the source`,
      );
      check(hash === img.sha256, `recorded sha256 of ${img.name} is wrong`);
      archived++;
      archivedBytes += img.bytes;
    }
    const got = receiver.events.filter((e) => e.taskId === taskId);
    check(
      JSON.stringify(got.map((e) => e.type).sort()) === JSON.stringify([...expected].sort()),
      `${label} ${short(taskId)}: receiver got [${got.map((e) => e.type).join(", ")}], expected [${expected.join(", ")}]`,
    );
    rows.push([
      `${label} ${short(taskId)}`,
      view.status,
      String(view.events.length),
      String(view.events.reduce((n, e) => n + e.duplicates, 0)),
      String(view.events.filter((e) => e.stale).length),
      `${view.images.filter((i) => i.state === "stored").length}/${view.images.length}`,
      `${got.filter((e) => e.verified).length}/${got.length}`,
    ]);
  }
  const reconciled = (await (
    await fetch(`${worker.url}/v1/tasks/${e}`, {
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    })
  ).json()) as { events: Array<{ source: string }>; reconcile: { polls: number } };
  check(
    reconciled.events.map((ev) => ev.source).join() === "submit,poll",
    `the reconciled task's events came from [${reconciled.events.map((ev) => ev.source)}], not [submit, poll]`,
  );
  const unverified = receiver.events.filter((e) => !e.verified).length;
  check(unverified === 0, `${unverified} deliveries failed signature verification`);
  const leaked = receiver.events.filter((e) =>
    JSON.stringify(e.body).includes(GOAPI_SECRET),
  ).length;
  check(leaked === 0, `${leaked} forwarded bodies contain the GoAPI webhook secret`);

  // The cross-task index behind the console's gallery: every task listed, in its final state.
  const listed = await listedTasks(worker, tasks);
  check(
    listed.length === tasks.length,
    `GET /v1/tasks lists ${listed.length} of the ${tasks.length} tasks in their final state`,
  );
  const thumbnails = listed.filter((item) => item.thumbnail_url !== null).length;
  check(
    thumbnails === 3,
    `${thumbnails} listed tasks have a thumbnail, expected 3 (the imagines, reconciled one included)`,
  );

  log("\nsummary");
  printTable(
    ["task", "status", "events", "duplicates", "stale", "images", "deliveries verified"],
    rows,
  );
  log(`\n  images archived: ${archived} (${(archivedBytes / 1024).toFixed(0)} KiB), e.g.`);
  const example = receiver.events.find((e) => e.type === "task.completed" && e.taskId === a);
  const exampleImages = (
    (example?.body.data as { images?: Array<{ url: string; bytes: number }> })?.images ?? []
  ).slice(0, 2);
  for (const img of exampleImages) log(`    ${img.url}  (${img.bytes} bytes)`);
  log(
    `  deliveries received: ${receiver.events.length}, all signed: ${unverified === 0 ? "yes" : "NO"}`,
  );
  log(
    `  the submitted task's webhooks never came: midhook polled GoAPI ${api.fetches(e)} time(s) and recovered it`,
  );
  log(
    `  task index: ${listed.length} of ${tasks.length} tasks listed, ${thumbnails} with a thumbnail`,
  );
}

interface ListedTask {
  task_id: string;
  status: string;
  thumbnail_url: string | null;
}

/**
 * The tasks that GET /v1/tasks lists in their final state (the view's status, and a thumbnail
 * once the view has a stored main image), waiting up to 10 s for the index to catch up.
 */
async function listedTasks(
  worker: LocalWorker,
  tasks: Array<{ taskId: string }>,
): Promise<ListedTask[]> {
  const headers = { authorization: `Bearer ${ADMIN_TOKEN}` };
  const final = new Map<string, { status: string; thumbnail: boolean }>();
  for (const { taskId } of tasks) {
    const view = (await (await fetch(`${worker.url}/v1/tasks/${taskId}`, { headers })).json()) as {
      status: string;
      images: Array<{ name: string; state: string }>;
    };
    const main = view.images.some((i) => i.name.startsWith("main.") && i.state === "stored");
    final.set(taskId, { status: view.status, thumbnail: main });
  }
  const deadline = Date.now() + 10_000;
  for (;;) {
    const page = (await (await fetch(`${worker.url}/v1/tasks?limit=100`, { headers })).json()) as {
      items: ListedTask[];
    };
    const caughtUp = page.items.filter((item) => {
      const want = final.get(item.task_id);
      return (
        want && item.status === want.status && (item.thumbnail_url !== null) === want.thumbnail
      );
    });
    if (caughtUp.length === tasks.length || Date.now() > deadline) return caughtUp;
    await sleep(250);
  }
}

function printTable(header: string[], rows: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]?.length ?? 0)));
  const line = (cells: string[]) => `  ${cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join("  ")}`;
  log(line(header));
  log(line(widths.map((w) => "-".repeat(w))));
  for (const row of rows) log(line(row));
}

main().catch((err) => {
  console.error("DEMO FAILED:", err instanceof Error ? err.message : err);
  process.exit(1);
});
