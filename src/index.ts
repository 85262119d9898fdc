// Worker entry: the HTTP app, the queue consumers, the retention sweep and the Durable Object
// classes.
import { app } from "./app";
import { handleQueue } from "./delivery/consumer";
import { sweepRetention } from "./retention-sweep";

export { DeadLetterLog } from "./dead-letter-log";
export { SubscriberHealth } from "./subscribers/health-object";
export { TaskObject } from "./task/object";

export default {
  fetch: app.fetch,
  queue: handleQueue,
  scheduled: (controller: ScheduledController, env: Env) =>
    sweepRetention(env, controller.scheduledTime),
} satisfies ExportedHandler<Env>;
