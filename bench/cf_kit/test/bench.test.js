// The same 10 tests as bench/testing_bench.py's TEST_FILE.
import { env, introspectWorkflowInstance } from "cloudflare:test";
import { expect, it } from "vitest";

for (let n = 0; n < 10; n++) {
  it(`order ${n}`, async () => {
    await using instance = await introspectWorkflowInstance(env.ORDER, `order-${n}`);
    await instance.modify(async (m) => {
      await m.disableSleeps();
      await m.mockEvent({ type: "approval", payload: { ok: true } });
      await m.mockStepResult({ name: "charge" }, { charged: n * 10 });
    });
    await env.ORDER.create({ id: `order-${n}`, params: { amount: n } });
    await instance.waitForStatus("complete");
    const output = await instance.getOutput();
    expect(output.charged).toEqual({ charged: n * 10 });
    expect(output.approved).toBe(true);
  });
}
