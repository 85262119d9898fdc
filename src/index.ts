// Worker entry: the HTTP app, the queue consumers and the Durable Object classes.
import { app } from "./app";
import { handleQueue } from "./delivery/consumer";

export { DeadLetterLog } from "./dead-letter-log";
export { SubscriberHealth } from "./subscribers/health-object";
export { TaskObject } from "./task/object";

export default {
  fetch: app.fetch,
  queue: handleQueue,
} satisfies ExportedHandler<Env>;
