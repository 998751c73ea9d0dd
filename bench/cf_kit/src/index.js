// The same workflow as bench/testing_bench.py's ENTRY: three steps, a one-hour sleep, an event.
import { WorkflowEntrypoint } from "cloudflare:workers";

export class OrderWorkflow extends WorkflowEntrypoint {
  async run(event, step) {
    const reserved = await step.do("reserve", async () => ({ reserved: true }));
    const charged = await step.do("charge", async () => ({ charged: event.payload.amount }));
    await step.sleep("cool off", "1 hour");
    const approval = await step.waitForEvent("approval", { type: "approval", timeout: "2 hours" });
    const shipped = await step.do("ship", async () => ({ shipped: true }));
    return { reserved, charged, approved: approval.payload.ok, shipped };
  }
}

export default {
  async fetch() {
    return new Response("ok");
  },
};
