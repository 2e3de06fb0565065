/** Sessions and events for the browser tests and the screenshots, written through the HTTP API. */
import type { apiClient } from "./harness.ts";

type Api = ReturnType<typeof apiClient>;

const PURPOSES = [
  ["Refund for order #4821", "support", ["billing", "refund"]],
  ["Printer on fire (T-1042)", "support", ["hardware", "urgent"]],
  ["Migrate billing cron to queues", "coder", ["infra"]],
  ["Quarterly report summary", "writer", ["reports"]],
  ["Reset 2FA for a locked-out admin", "support", ["security", "urgent"]],
  ["Explain the SLA for enterprise", "assistant", ["sales"]],
  ["Compute shipping for 14 parcels", "assistant", ["logistics"]],
  ["Flaky test in checkout service", "coder", ["ci", "infra"]],
] as const;

const STATUSES = ["active", "active", "completed", "active", "failed", "abandoned", "completed", "active"] as const;

/** Sessions owned by several users, with varied titles, tags, statuses and stats. */
export async function seedSessions(api: Api, users: string[]): Promise<void> {
  let n = 0;
  for (const user of users) {
    for (const [title, agent, tags] of PURPOSES) {
      const status = STATUSES[n % STATUSES.length]!;
      const created = await api<{ id: string }>("POST", `/v1/sessions?userId=${user}`, {
        title,
        purpose: `Agent ${agent} helping ${user}`,
        tags: [...tags],
        state: { agent: { name: agent } },
      });
      const id = created.body.id;
      const turns = 1 + (n % 3);
      const events: unknown[] = [];
      for (let t = 0; t < turns; t++) {
        const tool = t % 2 === 0 ? "lookup_ticket" : "calculator";
        events.push({ type: "message", role: "user", content: `Question ${t + 1} about ${title}` });
        events.push({ type: "tool_call", invocationId: `inv-${n}-${t}`, tool });
        events.push({
          type: "tool_result",
          invocationId: `inv-${n}-${t}`,
          tool,
          status: "success",
          durationMs: 20 + ((n * 37 + t * 11) % 300),
          output: { ok: true },
        });
        events.push({
          type: "message",
          role: "assistant",
          content: `Answer ${t + 1}.`,
          usage: { inputTokens: 300 + n * 40 + t * 90, outputTokens: 60 + n * 7, costUsd: 0.0004 * (n + 1) },
        });
      }
      await api("POST", `/v1/sessions/${id}/events?userId=${user}`, { events });
      if (status !== "active") await api("PATCH", `/v1/sessions/${id}?userId=${user}`, { status });
      n++;
    }
  }
}

/** One rich conversation: markdown, tool cards, an approval, lifecycle, a summary, state. */
export async function seedConversation(api: Api, user: string, id: string): Promise<void> {
  await api("POST", `/v1/sessions?userId=${user}`, {
    id,
    title: "Refund for order #4821",
    purpose: "Support agent handling a refund request",
    tags: ["billing", "refund", "vip"],
    state: {
      customer: { id: "C-2291", name: "Ada Lovelace", tier: "gold", orders: [4821, 4710, 4533] },
      ticket: { id: "T-1042", resolved: false, priority: "high" },
      refund: { amount: 129.9, currency: "EUR", approved: null },
      agent: { name: "support", phase: "idle", model: "gpt-4o-mini" },
    },
    metadata: { channel: "web", locale: "en-GB" },
  });
  let turn = 0;
  const t = () => `turn_${turn}`;
  const events: unknown[] = [
    { type: "status", scope: "agent", status: "ready", previous: "initializing" },
    { type: "message", role: "system", content: "You are a careful support agent. Look the ticket up first." },
    {
      type: "message",
      role: "user",
      content: "Hi! My order **#4821** arrived broken. Can I get a refund? It was €129.90.",
      turnId: t(),
    },
    { type: "status", scope: "agent", status: "running", previous: "ready" },
    {
      type: "message",
      role: "assistant",
      turnId: t(),
      model: "gpt-4o-mini",
      content: [
        { type: "text", text: "I'm sorry to hear that. Let me look the order up." },
        { type: "tool-call", toolCallId: "call_1", toolName: "lookup_order", input: { orderId: 4821 } },
      ],
      usage: { inputTokens: 812, outputTokens: 41, totalTokens: 853, costUsd: 0.00014 },
      finish: "complete",
    },
    { type: "tool_call", invocationId: "call_1", tool: "lookup_order", input: { orderId: 4821 } },
    {
      type: "tool_result",
      invocationId: "call_1",
      tool: "lookup_order",
      input: { orderId: 4821 },
      status: "success",
      durationMs: 142,
      output: { orderId: 4821, total: 129.9, currency: "EUR", delivered: "2025-05-02", items: ["Desk lamp"] },
      stateDelta: { order: { id: 4821, delivered: true } },
    },
    { type: "tool_call", invocationId: "call_2", tool: "issue_refund", input: { orderId: 4821, amount: 129.9 } },
    {
      type: "approval_request",
      approvalId: "appr_1",
      invocationId: "call_2",
      tool: "issue_refund",
      input: { orderId: 4821, amount: 129.9 },
    },
    { type: "approval_response", approvalId: "appr_1", decision: "approve", reason: "VIP customer, under €200" },
    {
      type: "tool_result",
      invocationId: "call_2",
      tool: "issue_refund",
      input: { orderId: 4821, amount: 129.9 },
      status: "success",
      durationMs: 388,
      output: { refundId: "R-77120", status: "queued" },
      stateDelta: { refund: { amount: 129.9, currency: "EUR", approved: true } },
    },
    { type: "tool_call", invocationId: "call_3", tool: "send_email", input: { template: "refund_issued" } },
    {
      type: "tool_result",
      invocationId: "call_3",
      tool: "send_email",
      status: "error",
      durationMs: 1204,
      error: { message: "SMTP relay timed out after 1200 ms", code: "ETIMEDOUT" },
    },
    {
      type: "message",
      role: "assistant",
      turnId: t(),
      model: "gpt-4o-mini",
      content:
        "Done — your refund is on its way:\n\n| Order | Amount | Refund |\n| --- | --- | --- |\n| #4821 | €129.90 | `R-77120` |\n\n" +
        "The confirmation email **failed to send**; I'll retry it. You should see the money in 3–5 business days.",
      usage: { inputTokens: 1304, outputTokens: 96, totalTokens: 1400, costUsd: 0.00025 },
      finish: "complete",
    },
    { type: "status", scope: "agent", status: "idle", previous: "running" },
  ];
  turn++;
  events.push(
    { type: "message", role: "user", content: "Thanks! How much is that in USD?", turnId: t() },
    { type: "status", scope: "agent", status: "running", previous: "idle" },
    { type: "tool_call", invocationId: "call_4", tool: "calculator", input: { expression: "129.9 * 1.08" } },
    {
      type: "tool_result",
      invocationId: "call_4",
      tool: "calculator",
      status: "success",
      durationMs: 3,
      output: { value: 140.29 },
    },
    {
      type: "message",
      role: "assistant",
      turnId: t(),
      model: "gpt-4o-mini",
      content: "About **$140.29** at today's rate (1 EUR ≈ 1.08 USD).",
      usage: { inputTokens: 1520, outputTokens: 22, totalTokens: 1542, costUsd: 0.00024 },
      finish: "complete",
    },
    { type: "status", scope: "agent", status: "idle", previous: "running" },
    {
      type: "summary",
      text: "Earlier in this conversation:\n- The customer asked for a refund of order #4821 (€129.90).\n- A refund R-77120 was approved and queued.",
      throughSeq: 14,
    },
    { type: "custom", name: "crm.sync", data: { contactId: "C-2291", synced: true } },
  );
  await api("POST", `/v1/sessions/${id}/events?userId=${user}`, { events });
}

/** `n` small events in batches, for the long-session test. */
export async function seedManyEvents(api: Api, user: string, id: string, n: number): Promise<void> {
  await api("POST", `/v1/sessions?userId=${user}`, { id, title: `${n} events` });
  const batch = 1000;
  for (let start = 0; start < n; start += batch) {
    const events = Array.from({ length: Math.min(batch, n - start) }, (_, i) => {
      const k = start + i + 1;
      return k % 3 === 0
        ? { type: "tool_result", invocationId: `i${k}`, tool: "calculator", status: "success", durationMs: k % 50 }
        : { type: "message", role: k % 3 === 1 ? "user" : "assistant", content: `Message number ${k}` };
    });
    const result = await api("POST", `/v1/sessions/${id}/events?userId=${user}`, { events });
    if (result.status !== 201) throw new Error(`seeding failed: ${JSON.stringify(result.body)}`);
  }
}
