// `npm run bench:compare -- [git ref]`: the before/after figure of a change on the ingest path.
// Builds midhook at the ref (HEAD by default) from a temporary git worktree, and as it is in the
// working tree, then measures the CPU per new event of both, and of the floor, in alternating
// rounds at a fixed rate with the state on /dev/shm. One machine's speed drifts between runs by
// more than most changes gain, so only builds measured in the same run are compared.
import { spawnSync } from "node:child_process";
import { mkdtempSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  buildWorker,
  type LocalWorker,
  ramDisk,
  removeState,
  sleep,
  startWorker,
} from "../scripts/lib/local-stack";
import { cpuMs, newEventSender } from "./load";

const RATE = Number(process.env.BENCH_COMPARE_RATE ?? 250);
const ROUND_SECONDS = 5;
const PASSES = Number(process.env.BENCH_COMPARE_PASSES ?? 6);
/** After a round, how long the work its events leave behind (alarms, index writes) gets. */
const SETTLE_MS = 2500;
const SECRET = "bench-goapi-secret";

const ref = process.argv[2] ?? "HEAD";

/** midhook's bundle at `ref`, built in a worktree that shares this checkout's node_modules. */
function buildAt(gitRef: string): { bundle: string; remove: () => void } {
  const dir = join(mkdtempSync(join(tmpdir(), "midhook-compare-")), "tree");
  const add = spawnSync("git", ["worktree", "add", "--detach", dir, gitRef], { encoding: "utf8" });
  if (add.status !== 0) throw new Error(`git worktree add ${gitRef} failed:\n${add.stderr}`);
  const remove = () => {
    spawnSync("git", ["worktree", "remove", "--force", dir]);
    removeState(join(dir, ".."));
  };
  try {
    symlinkSync(join(process.cwd(), "node_modules"), join(dir, "node_modules"));
    return { bundle: buildWorker(join(dir, "wrangler.toml")), remove };
  } catch (err) {
    remove();
    throw err;
  }
}

interface Measured {
  name: string;
  worker: LocalWorker;
  own: number[];
  both: number[];
}

async function main(): Promise<void> {
  const dir = ramDisk();
  if (dir === null) throw new Error("no /dev/shm here: the comparison runs with the state in RAM");
  const before = buildAt(ref);
  const started: Measured[] = [];
  try {
    const builds: Array<[string, string, string]> = [
      [ref, before.bundle, "wrangler.toml"],
      ["working tree", buildWorker("wrangler.toml"), "wrangler.toml"],
      ["floor", buildWorker("bench/wrangler.floor.toml"), "bench/wrangler.floor.toml"],
    ];
    for (const [name, bundle, config] of builds) {
      const worker = await startWorker({
        // As in `npm run bench`: reconciliation on, against an API nobody answers.
        vars: {
          GOAPI_WEBHOOK_SECRET: SECRET,
          ADMIN_TOKEN: "compare-admin-token",
          GOAPI_API_KEY: "compare-goapi-key",
          GOAPI_API_BASE: "http://127.0.0.1:9",
        },
        config,
        bundle,
        persistTo: dir,
      });
      started.push({ name, worker, own: [], both: [] });
    }
    const send = newEventSender(SECRET, RATE);
    const load = (worker: LocalWorker, seconds: number) => send(worker.url, seconds);
    for (const m of started) await load(m.worker, 1); // warm-up
    await sleep(SETTLE_MS);
    for (let pass = 0; pass < PASSES; pass++) {
      for (const m of pass % 2 === 0 ? started : [...started].reverse()) {
        const own = cpuMs(m.worker.workerdPid());
        const proxy = cpuMs(m.worker.proxyPid());
        const round = await load(m.worker, ROUND_SECONDS);
        await sleep(SETTLE_MS);
        const usedOwn = cpuMs(m.worker.workerdPid()) - own;
        const usedProxy = cpuMs(m.worker.proxyPid()) - proxy;
        m.own.push(usedOwn / round.requests.total);
        m.both.push((usedOwn + usedProxy) / round.requests.total);
      }
    }
  } finally {
    for (const m of started) {
      await m.worker.stop();
      removeState(m.worker.stateDir);
    }
    before.remove();
  }
  const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;
  const ms = (value: number) => value.toFixed(3).padStart(6);
  console.log(`CPU ms per new event, ${RATE} req/s, state on /dev/shm, ${PASSES} rounds each`);
  console.log(`${"".padEnd(16)} own workerd  both workerd  own, each round`);
  for (const m of started) {
    const rounds = m.own.map((value) => value.toFixed(2)).join(" ");
    console.log(
      `${m.name.padEnd(16)} ${ms(mean(m.own))}       ${ms(mean(m.both))}        ${rounds}`,
    );
  }
}

await main();
