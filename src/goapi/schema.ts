// zod schemas of the two body shapes GoAPI posts to a webhook endpoint: v2 (the legacy MJ API's
// fetch object) and v1 (the unified API's `{ timestamp, data }`).
import { z } from "zod";

/**
 * Task ids become R2 key segments and Durable Object names, so they are restricted to the
 * characters GoAPI uses (UUIDs) plus a few safe separators: no slashes, no control characters.
 */
export const TASK_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/;

const taskIdSchema = z
  .string()
  .regex(
    TASK_ID_PATTERN,
    "must be 1-128 characters of A-Z a-z 0-9 _ . : -, starting with a letter or digit",
  );

// Optional fields never reject a delivery: a value of an unexpected type reads as absent,
// so an odd field cannot make GoAPI's event disappear.
const optionalText = z.string().nullish().catch(null);
const optionalList = z.array(z.unknown()).nullish().catch(null);
const optionalScalar = z.union([z.string(), z.number()]).nullish().catch(null);
const required = z.string().min(1);

const v2Result = z.looseObject({
  image_url: optionalText,
  image_urls: optionalList,
  temporary_image_urls: optionalList,
  task_progress: optionalScalar,
  actions: optionalList,
  message: optionalText,
  error_messages: optionalList,
  seed: optionalScalar,
});

/** v2 (legacy MJ API): the fetch object itself. */
export const v2PayloadSchema = z.looseObject({
  task_id: taskIdSchema,
  status: required,
  meta: z.looseObject({ task_type: optionalText }).nullish().catch(null),
  task_result: v2Result.nullish().catch(null),
});

const v1Output = z.looseObject({
  image_url: optionalText,
  image_urls: optionalList,
  temporary_image_urls: optionalList,
  progress: optionalScalar,
  actions: optionalList,
  description: optionalText,
  seed: optionalScalar,
});

const v1Error = z.looseObject({
  code: optionalScalar,
  message: optionalText,
  raw_message: optionalText,
});

/** v1 (unified API): `{ timestamp, data: <task object> }`. */
export const v1PayloadSchema = z.looseObject({
  timestamp: z.number().nullish().catch(null),
  data: z.looseObject({
    task_id: taskIdSchema,
    status: required,
    model: optionalText,
    task_type: optionalText,
    output: v1Output.nullish().catch(null),
    error: v1Error.nullish().catch(null),
  }),
});

export type V2Payload = z.infer<typeof v2PayloadSchema>;
export type V1Payload = z.infer<typeof v1PayloadSchema>;
