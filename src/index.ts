// Worker entry: the HTTP app and the Durable Object class.
import { app } from "./app";

export { TaskObject } from "./task-object";

export default {
  fetch: app.fetch,
} satisfies ExportedHandler<Env>;
