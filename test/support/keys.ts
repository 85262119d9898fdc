// The secrets vitest.config.ts gives the Worker under test: webhook secrets (current and previous,
// for rotation), the admin token and the two subscriptions' signing keys.
export const SECRET = "test-secret-current";
export const PREVIOUS_SECRET = "test-secret-previous";
export const ADMIN_TOKEN = "test-admin-token";
/** Subscription "all" (every event, midhook format), set as env:ALL_WEBHOOK_SECRET. */
export const ALL_KEY = "whsec_YWxsLXN1YnNjcmliZXItdGVzdC1rZXktMDAwMQ==";
/** Subscription "gallery" (completed and failed imagine/upscale, goapi format), a literal key. */
export const GALLERY_KEY = "whsec_Z2FsbGVyeS10ZXN0LWtleS0wMDAwMDAwMDAy";
/** GOAPI_API_KEY: the fake GoAPI at https://api.goapi.test expects it. */
export const GOAPI_API_KEY = "test-goapi-api-key";
