// Cloudflare's prices for what midhook uses, beyond each plan's included usage (Workers Paid),
// as published on developers.cloudflare.com pricing pages, read 2026-11. The included usage
// (and the $5 monthly minimum) is left out: these are the marginal prices per unit.
// BENCHMARKS.md ("5. What one task costs") shows the same table; change both together.

export interface Price {
  /** US dollars per million units (per GB-month for storage). */
  usdPerMillion: number;
  unit: string;
  source: string;
}

const WORKERS = "https://developers.cloudflare.com/workers/platform/pricing/";
const DURABLE_OBJECTS = "https://developers.cloudflare.com/durable-objects/platform/pricing/";
const QUEUES = "https://developers.cloudflare.com/queues/platform/pricing/";
const R2 = "https://developers.cloudflare.com/r2/pricing/";
const D1 = "https://developers.cloudflare.com/d1/platform/pricing/";

export const PRICES = {
  workersRequests: { usdPerMillion: 0.3, unit: "request", source: WORKERS },
  workersCpuMs: { usdPerMillion: 0.02, unit: "CPU ms", source: WORKERS },
  doRequests: {
    usdPerMillion: 0.15,
    unit: "request (each RPC call on a stub, each alarm invocation)",
    source: DURABLE_OBJECTS,
  },
  doDurationGbS: {
    usdPerMillion: 12.5,
    unit: "GB-s (128 MB per active object)",
    source: DURABLE_OBJECTS,
  },
  sqlRowsRead: { usdPerMillion: 0.001, unit: "row read", source: DURABLE_OBJECTS },
  sqlRowsWritten: {
    usdPerMillion: 1.0,
    unit: "row written (each setAlarm is one)",
    source: DURABLE_OBJECTS,
  },
  /** Per GB-month, not per million. */
  sqlStorageGbMonth: { usdPerMillion: 0.2, unit: "GB-month", source: DURABLE_OBJECTS },
  queueOperations: {
    usdPerMillion: 0.4,
    unit: "operation (each 64 KB written, read or deleted)",
    source: QUEUES,
  },
  r2ClassA: { usdPerMillion: 4.5, unit: "Class A operation", source: R2 },
  r2ClassB: { usdPerMillion: 0.36, unit: "Class B operation", source: R2 },
  /** Per GB-month, not per million. */
  r2StorageGbMonth: { usdPerMillion: 0.015, unit: "GB-month (Standard)", source: R2 },
  d1RowsRead: { usdPerMillion: 0.001, unit: "row read", source: D1 },
  d1RowsWritten: { usdPerMillion: 1.0, unit: "row written", source: D1 },
} satisfies Record<string, Price>;
