// Realistic GoAPI webhook bodies for local runs, built from the captured-shape fixtures.
import v1Completed from "../../samples/v1-completed.json" with { type: "json" };
import v2Finished from "../../samples/v2-finished.json" with { type: "json" };

export interface V2Options {
  progress?: number;
  imageUrl?: string;
  imageUrls?: string[];
  taskType?: string;
  message?: string;
  errors?: string[];
}

/** A v2 (legacy MJ API) fetch object, as GoAPI posts it. */
export function v2Body(taskId: string, status: string, options: V2Options = {}) {
  const body = structuredClone(v2Finished) as Record<string, unknown> & {
    meta: Record<string, unknown>;
    task_result: Record<string, unknown>;
  };
  body.task_id = taskId;
  body.status = status;
  body.meta.task_type = options.taskType ?? "imagine";
  Object.assign(body.task_result, {
    image_url: options.imageUrl ?? "",
    image_urls: options.imageUrls ?? [],
    discord_image_url: "",
    task_progress: options.progress ?? (status === "finished" ? 100 : 0),
    message: options.message ?? "",
    error_messages: options.errors ?? [],
    actions: status === "finished" ? body.task_result.actions : [],
  });
  return body;
}

export interface V1Options {
  progress?: number;
  imageUrl?: string;
  temporaryImageUrls?: string[];
  taskType?: string;
  description?: string;
  secret?: string;
}

/** A v1 (unified API) `{ timestamp, data }` body; it echoes the webhook secret, as GoAPI does. */
export function v1Body(taskId: string, status: string, options: V1Options = {}) {
  const body = structuredClone(v1Completed) as {
    timestamp: number;
    data: Record<string, unknown> & {
      output: Record<string, unknown>;
      config: { webhook_config: { secret: string } };
    };
  };
  body.timestamp = Math.floor(Date.now() / 1000);
  body.data.task_id = taskId;
  body.data.status = status;
  body.data.task_type = options.taskType ?? "imagine";
  body.data.config.webhook_config.secret = options.secret ?? "";
  body.data.output = {
    image_url: options.imageUrl ?? "",
    image_urls: null,
    temporary_image_urls: options.temporaryImageUrls ?? null,
    discord_image_url: "",
    actions: status === "completed" ? ["upscale1", "variation1"] : [],
    progress: options.progress ?? (status === "completed" ? 100 : 0),
    intermediate_image_urls: null,
    ...(options.description ? { description: options.description } : {}),
  };
  return body;
}
