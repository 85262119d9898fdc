// midhook with switchable faults, for `npm run chaos` only: the same Worker and Durable Object
// classes, with Queues refusing sends or the task's isolate crashing mid-copy while a fault is
// on. The chaos run switches faults with POST /__chaos/faults {"queue": true, "crash": false},
// and reads how often each bit with GET /__chaos/faults.
// State is module state: locally, the Worker and its Durable Objects share one isolate.
import midhook, {
  DeadLetterLog,
  TaskObject as MidhookTaskObject,
  SubscriberHealth,
} from "../../src/index";

const faults = { queue: false, crash: false };
/** How often each fault bit since this isolate started. */
const hits = { refused_sends: 0, crashes: 0 };

/** `env` with DELIVERY_QUEUE refusing sends while the queue fault is on. */
function withFaults(env: Env, ctx?: DurableObjectState): Env {
  const queue = env.DELIVERY_QUEUE;
  const images = env.IMAGES;
  return new Proxy(env, {
    get(target, key) {
      if (key === "DELIVERY_QUEUE") {
        return new Proxy(queue, {
          get(q, name) {
            const value = Reflect.get(q, name);
            if ((name === "send" || name === "sendBatch") && faults.queue) {
              return () => {
                hits.refused_sends++;
                return Promise.reject(new Error("chaos: Queues is unavailable"));
              };
            }
            return typeof value === "function" ? value.bind(q) : value;
          },
        });
      }
      if (key === "IMAGES" && ctx) {
        return new Proxy(images, {
          get(bucket, name) {
            const value = Reflect.get(bucket, name);
            if (name === "put" && faults.crash) {
              return () => {
                hits.crashes++;
                ctx.abort("chaos: the isolate crashed while copying an image");
              };
            }
            return typeof value === "function" ? value.bind(bucket) : value;
          },
        });
      }
      return Reflect.get(target, key);
    },
  });
}

export class TaskObject extends MidhookTaskObject {
  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, withFaults(env, ctx));
  }
}

export { DeadLetterLog, SubscriberHealth };

export default {
  async fetch(request, env, ctx) {
    const url = new URL(request.url);
    if (url.pathname === "/__chaos/faults") {
      if (request.method === "POST") Object.assign(faults, await request.json());
      return Response.json({ ...faults, ...hits });
    }
    return midhook.fetch(request, withFaults(env), ctx);
  },
  queue: (batch, env) => midhook.queue(batch, withFaults(env)),
} satisfies ExportedHandler<Env>;
