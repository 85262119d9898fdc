import { Webhook } from "standardwebhooks";
import { describe, expect, it } from "vitest";
import { signStandardWebhook } from "../../src/delivery/sign";

const KEY = "whsec_yP710dDrCm5Y83JNiyLNl8SQbT5CSEMgGNbShKTYJn0=";

describe("signStandardWebhook", () => {
  it("produces a signature the standardwebhooks library accepts", async () => {
    const timestamp = Math.floor(Date.now() / 1000);
    const body = '{"id":"evt_1","type":"task.completed"}';
    const signature = await signStandardWebhook(KEY, "evt_1", timestamp, body);
    expect(signature).toMatch(/^v1,[A-Za-z0-9+/]+=*$/);
    const headers = {
      "webhook-id": "evt_1",
      "webhook-timestamp": String(timestamp),
      "webhook-signature": signature,
    };
    expect(new Webhook(KEY).verify(body, headers)).toEqual({ id: "evt_1", type: "task.completed" });
  });
});
