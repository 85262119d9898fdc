// Only for `npm run bench` (section 5): midhook itself, unchanged, with every billable operation
// counted on its way out. The Worker's handlers and the Durable Object classes are midhook's
// own; only the bindings they are handed are wrapped, so the counts are what midhook's code
// asks of Cloudflare, measured, not derived from reading the code:
//
// - Workers requests: each fetch and each queue consumer invocation;
// - Durable Object requests: each RPC call on a stub (one billed RPC session each) and each
//   alarm run; rows read and written by every SQL statement (cursor.rowsRead/rowsWritten; the
//   rows written also by statement, under do.rows_written.by.*) and each setAlarm (billed as
//   one row written); the wall time of each RPC call and alarm run. The local runtime's own
//   statements (its table of object names, __miniflare_do_name, which Cloudflare does not
//   have) are left out: only their rows written are kept, apart, as local_only.rows_written;
// - Queues: each message written (send, sendBatch), read (handed to the consumer, once per
//   try) and deleted (acknowledged), in 64 KB units;
// - R2: Class A (put, multipart create/part/complete, list) and Class B (get, head);
// - D1: queries and the rows their results report (the task index, INDEX).
//
// Locally one isolate runs the Worker and its objects, so the counters are module variables,
// read and reset at /__bench/counters (never counted). The bench runs this entry from a copy
// of wrangler.toml whose `main` points here, so the bindings stay midhook's own.
import worker, {
  DeadLetterLog,
  TaskObject as MidhookTaskObject,
  SubscriberHealth,
} from "../src/index";

export { DeadLetterLog, SubscriberHealth };

const counts: Record<string, number> = {};
function add(name: string, n = 1): void {
  counts[name] = (counts[name] ?? 0) + n;
}

/** Queues bill an operation per 64 KB (1 KB = 1,000 bytes), with ~100 bytes of metadata. */
function queueUnits(body: unknown): number {
  let size = 0;
  try {
    size = new TextEncoder().encode(JSON.stringify(body) ?? "").byteLength;
  } catch {
    size = 0;
  }
  return Math.max(1, Math.ceil((size + 100) / 64_000));
}

function timed<T>(name: string, work: () => T): T {
  const started = performance.now();
  const result = work();
  if (result instanceof Promise) {
    return result.finally(() => add(name, performance.now() - started)) as T;
  }
  return result;
}

type AnyFunction = (...args: unknown[]) => unknown;
const isFunction = (value: unknown): value is AnyFunction => typeof value === "function";

/** A Durable Object stub whose method calls (each one billed RPC session) are counted. */
function countingStub<T extends object>(binding: string, stub: T): T {
  return new Proxy(stub, {
    get(target, prop) {
      const value = Reflect.get(target, prop);
      if (typeof prop === "symbol" || prop === "then" || !isFunction(value)) return value;
      return (...args: unknown[]) => {
        add("do.requests");
        add(`do.requests.${binding}.${prop}`);
        return timed("do.active_ms", () => Promise.resolve(Reflect.apply(value, target, args)));
      };
    },
  });
}

function countingNamespace(binding: string, namespace: DurableObjectNamespace): object {
  return new Proxy(namespace, {
    get(target, prop) {
      const value = Reflect.get(target, prop);
      if (!isFunction(value)) return value;
      if (prop === "get" || prop === "getByName" || prop === "getExisting") {
        return (...args: unknown[]) =>
          countingStub(binding, Reflect.apply(value, target, args) as object);
      }
      return (...args: unknown[]) => Reflect.apply(value, target, args);
    },
  });
}

function countingQueue(binding: string, queue: Queue): Queue {
  return {
    send: (body, options) => {
      add("queue.messages_written");
      add("queue.write_ops", queueUnits(body));
      add(`queue.write_ops.${binding}`, queueUnits(body));
      return queue.send(body, options);
    },
    sendBatch: (messages, options) => {
      for (const message of messages) {
        add("queue.messages_written");
        add("queue.write_ops", queueUnits(message.body));
        add(`queue.write_ops.${binding}`, queueUnits(message.body));
      }
      add("queue.send_batch_calls");
      return queue.sendBatch(messages, options);
    },
  } as Queue;
}

const R2_CLASS_A = new Set(["put", "list", "createMultipartUpload"]);
const R2_CLASS_B = new Set(["get", "head"]);

function countingUpload(upload: R2MultipartUpload): R2MultipartUpload {
  return new Proxy(upload, {
    get(target, prop) {
      const value = Reflect.get(target, prop);
      if (!isFunction(value)) return value;
      if (prop === "uploadPart" || prop === "complete") {
        return (...args: unknown[]) => {
          add("r2.class_a");
          add(`r2.${prop}`);
          return Reflect.apply(value, target, args);
        };
      }
      if (prop === "abort") {
        return (...args: unknown[]) => {
          add("r2.free.abortMultipartUpload");
          return Reflect.apply(value, target, args);
        };
      }
      return (...args: unknown[]) => Reflect.apply(value, target, args);
    },
  });
}

function countingBucket(bucket: R2Bucket): R2Bucket {
  return new Proxy(bucket, {
    get(target, prop) {
      const value = Reflect.get(target, prop);
      if (typeof prop === "symbol" || !isFunction(value)) return value;
      return (...args: unknown[]) => {
        if (R2_CLASS_A.has(prop)) add("r2.class_a");
        else if (R2_CLASS_B.has(prop)) add("r2.class_b");
        else add(`r2.free.${prop}`);
        add(`r2.${prop}`);
        const result = Reflect.apply(value, target, args);
        if (prop === "createMultipartUpload") {
          return (result as Promise<R2MultipartUpload>).then(countingUpload);
        }
        if (prop === "resumeMultipartUpload") return countingUpload(result as R2MultipartUpload);
        return result;
      };
    },
  });
}

function countD1Meta(meta: { rows_read?: number; rows_written?: number } | undefined): void {
  add("d1.rows_read", meta?.rows_read ?? 0);
  add("d1.rows_written", meta?.rows_written ?? 0);
}

function countingStatement(statement: D1PreparedStatement): D1PreparedStatement {
  return new Proxy(statement, {
    get(target, prop) {
      const value = Reflect.get(target, prop);
      if (!isFunction(value)) return value;
      if (prop === "bind") {
        return (...args: unknown[]) =>
          countingStatement(Reflect.apply(value, target, args) as never);
      }
      if (prop === "run" || prop === "all") {
        return async (...args: unknown[]) => {
          add("d1.queries");
          const result = (await Reflect.apply(value, target, args)) as D1Result;
          countD1Meta(result.meta);
          return result;
        };
      }
      if (prop === "first" || prop === "raw") {
        return (...args: unknown[]) => {
          add("d1.queries");
          add("d1.queries_without_row_counts");
          return Reflect.apply(value, target, args);
        };
      }
      return (...args: unknown[]) => Reflect.apply(value, target, args);
    },
  });
}

function countingD1(database: D1Database): D1Database {
  return new Proxy(database, {
    get(target, prop) {
      const value = Reflect.get(target, prop);
      if (!isFunction(value)) return value;
      if (prop === "prepare") {
        return (...args: unknown[]) =>
          countingStatement(Reflect.apply(value, target, args) as never);
      }
      if (prop === "batch") {
        return async (...args: unknown[]) => {
          const results = (await Reflect.apply(value, target, args)) as D1Result[];
          add("d1.queries", results.length);
          for (const result of results) countD1Meta(result.meta);
          return results;
        };
      }
      return (...args: unknown[]) => Reflect.apply(value, target, args);
    },
  });
}

const has = (value: unknown, ...methods: string[]) =>
  typeof value === "object" &&
  value !== null &&
  methods.every((m) => isFunction((value as Record<string, unknown>)[m]));

/** Wraps each binding by what it is (found by its methods, so a new binding is counted too). */
function countingBinding(name: string, value: unknown): unknown {
  if (has(value, "idFromName", "get")) return countingNamespace(name, value as never);
  if (has(value, "send", "sendBatch")) return countingQueue(name, value as Queue);
  if (has(value, "put", "head", "createMultipartUpload")) return countingBucket(value as R2Bucket);
  if (has(value, "prepare", "batch")) return countingD1(value as D1Database);
  return value;
}

const wrapped = new WeakMap<object, Env>();
function countingEnv(env: Env): Env {
  const known = wrapped.get(env);
  if (known) return known;
  const result: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(env)) result[name] = countingBinding(name, value);
  wrapped.set(env, result as unknown as Env);
  return result as unknown as Env;
}

/**
 * A statement as the rows it writes are told apart by: its first six words, comments left out.
 * A multi-statement exec (a task's schema) is keyed by its first statement; statements that
 * share their first six words are counted together.
 */
function statementKey(query: string): string {
  return query
    .replace(/--[^\n]*/g, " ")
    .trim()
    .split(/\s+/)
    .slice(0, 6)
    .join(" ");
}

/**
 * SQL rows and alarms are counted where SQLite runs: the storage prototypes are patched once
 * (before the first object's constructor runs), so midhook's objects get their own, unwrapped
 * `ctx`. A cursor's counts are read after the statement's synchronous caller has consumed it.
 */
let storagePatched = false;
/** "schema" while an object's constructor runs, so that its schema's rows are told apart. */
let phase = "";
function countStorage(ctx: DurableObjectState): void {
  if (storagePatched) return;
  storagePatched = true;
  const sqlProto = Object.getPrototypeOf(ctx.storage.sql) as SqlStorage;
  const exec = sqlProto.exec;
  sqlProto.exec = function (this: SqlStorage, ...args: Parameters<SqlStorage["exec"]>) {
    const cursor = exec.apply(this, args);
    // The local runtime keeps each object's name in a table of its own; Cloudflare does not.
    if (args[0].includes("__miniflare_")) {
      queueMicrotask(() => add("local_only.rows_written", cursor.rowsWritten));
      return cursor;
    }
    const suffix = phase ? `.${phase}` : "";
    add("do.sql_statements");
    if (suffix) add(`do.sql_statements${suffix}`);
    queueMicrotask(() => {
      add("do.rows_read", cursor.rowsRead);
      add("do.rows_written", cursor.rowsWritten);
      if (cursor.rowsWritten > 0)
        add(`do.rows_written.by.${statementKey(args[0])}`, cursor.rowsWritten);
      if (suffix) {
        add(`do.rows_read${suffix}`, cursor.rowsRead);
        add(`do.rows_written${suffix}`, cursor.rowsWritten);
      }
    });
    return cursor;
  } as SqlStorage["exec"];
  const storageProto = Object.getPrototypeOf(ctx.storage) as DurableObjectStorage;
  const setAlarm = storageProto.setAlarm;
  storageProto.setAlarm = function (this: DurableObjectStorage, ...args) {
    add("do.set_alarm");
    return setAlarm.apply(this, args);
  } as DurableObjectStorage["setAlarm"];
  const deleteAlarm = storageProto.deleteAlarm;
  storageProto.deleteAlarm = function (this: DurableObjectStorage, ...args) {
    add("do.delete_alarm");
    return deleteAlarm.apply(this, args);
  } as DurableObjectStorage["deleteAlarm"];
}

/** midhook's TaskObject, handed counting bindings; its alarm runs (billed requests) counted. */
export class TaskObject extends MidhookTaskObject {
  constructor(ctx: DurableObjectState, env: Env) {
    countStorage(ctx);
    phase = "schema";
    try {
      super(ctx, countingEnv(env));
    } finally {
      phase = "";
    }
    add("do.objects_started.TaskObject");
  }

  override async alarm(): Promise<void> {
    add("do.requests");
    add("do.alarm_runs");
    const started = performance.now();
    try {
      await super.alarm();
    } finally {
      add("do.active_ms", performance.now() - started);
    }
  }

  /** The object's SQLite size in bytes (billed storage); called by the bench, not counted. */
  benchDatabaseSize(): number {
    return this.ctx.storage.sql.databaseSize;
  }
}

/** Wraps a message so that its acknowledgement (a billed delete) or retry is seen. */
function countingMessage(message: Message<unknown>, settled: Set<string>): Message<unknown> {
  return {
    get id() {
      return message.id;
    },
    get timestamp() {
      return message.timestamp;
    },
    get body() {
      return message.body;
    },
    get attempts() {
      return message.attempts;
    },
    ack() {
      if (!settled.has(message.id)) add("queue.delete_ops", queueUnits(message.body));
      settled.add(message.id);
      message.ack();
    },
    retry(options?: QueueRetryOptions) {
      settled.add(message.id);
      add("queue.retries");
      message.retry(options);
    },
  };
}

export default {
  async fetch(request, env, ctx) {
    const url = new URL(request.url);
    if (url.pathname === "/__bench/counters") {
      if (request.method === "DELETE") for (const key of Object.keys(counts)) delete counts[key];
      return Response.json(counts);
    }
    if (url.pathname === "/__bench/health") {
      // How fast one subscription's health object takes reports: `n` failures, `width` at once,
      // as consumers would send them while a subscriber is down. Never counted.
      const n = Number(url.searchParams.get("n") ?? 1000);
      const width = Number(url.searchParams.get("width") ?? 20);
      const id = `bench-${crypto.randomUUID().slice(0, 8)}`;
      const health = env.SUBSCRIBERS.getByName(id);
      let next = 0;
      const started = performance.now();
      await Promise.all(
        Array.from({ length: width }, async () => {
          while (next++ < n) await health.report(id, "failure", 0);
        }),
      );
      const seconds = (performance.now() - started) / 1000;
      const statusStarted = performance.now();
      for (let i = 0; i < 200; i++) await health.status(id);
      const statusMs = (performance.now() - statusStarted) / 200;
      return Response.json({
        reports: n,
        per_second: Math.round(n / seconds),
        status_ms: statusMs,
      });
    }
    if (url.pathname === "/__bench/storage") {
      const task = url.searchParams.get("task") ?? "";
      const tasks = env.TASKS as unknown as DurableObjectNamespace<TaskObject>;
      const bytes = await tasks.getByName(task).benchDatabaseSize();
      return Response.json({ task, bytes });
    }
    add("worker.requests");
    add(`worker.requests.${request.method} ${url.pathname.split("/").slice(0, 3).join("/")}`);
    return (worker.fetch as ExportedHandlerFetchHandler<Env>)(request, countingEnv(env), ctx);
  },

  async queue(batch, env, ctx) {
    add("worker.requests");
    add("worker.queue_invocations");
    add(`queue.invocations.${batch.queue}`);
    const settled = new Set<string>();
    for (const message of batch.messages) {
      add("queue.messages_read");
      add("queue.read_ops", queueUnits(message.body));
    }
    const messages = batch.messages.map((m) => countingMessage(m, settled));
    const counted: MessageBatch<unknown> = {
      queue: batch.queue,
      metadata: batch.metadata,
      messages,
      ackAll: () => {
        for (const m of messages) m.ack();
      },
      retryAll: (options) => {
        for (const m of messages) m.retry(options);
      },
    };
    await (worker.queue as ExportedHandlerQueueHandler<Env>)(counted, countingEnv(env), ctx);
    // A message neither acknowledged nor retried is acknowledged when the handler returns.
    for (const message of batch.messages) {
      if (!settled.has(message.id)) add("queue.delete_ops", queueUnits(message.body));
    }
  },
} satisfies ExportedHandler<Env>;
