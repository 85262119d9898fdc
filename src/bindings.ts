// The Hono environment type, and the one way to reach each Durable Object from a route or a
// queue consumer.

/** The Hono environment every router shares. */
export type AppEnv = { Bindings: Env };

/** The Durable Object that owns task `taskId` (one per GoAPI task, named by its id). */
export function taskObject(env: Env, taskId: string) {
  return env.TASKS.getByName(taskId);
}

/** The single DeadLetterLog that lists failed deliveries across tasks. */
export function deadLetterLog(env: Env) {
  return env.DEAD_LETTER_LOG.getByName("all");
}

/** The SubscriberHealth of subscription `id` (one per subscription, shared by all tasks). */
export function subscriberHealth(env: Env, id: string) {
  return env.SUBSCRIBERS.getByName(id);
}
