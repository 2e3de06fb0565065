import { describe, expect, it, vi } from "vitest";
import { createHarness } from "./helpers.ts";

/** The standard prom-client names stock Node.js dashboards query, without any prefix. */
const PROCESS_METRICS = [
  "nodejs_eventloop_lag_seconds",
  "nodejs_eventloop_lag_p99_seconds",
  "nodejs_eventloop_lag_max_seconds",
  "nodejs_heap_size_used_bytes",
  "nodejs_heap_size_total_bytes",
  "nodejs_gc_duration_seconds",
  "nodejs_active_handles",
  "process_cpu_user_seconds_total",
  "process_cpu_system_seconds_total",
  "process_resident_memory_bytes",
];

const metricValue = (body: string, name: string): number => {
  const line = body.split("\n").find((candidate) => candidate.startsWith(`${name} `));
  if (line === undefined) throw new Error(`${name} is not in /metrics`);
  return Number(line.slice(name.length + 1));
};

describe("/metrics process metrics", () => {
  it("are on by default, under their standard names, beside the app's own metrics", async () => {
    const h = await createHarness({ metricsAuth: "public" });
    try {
      const res = await h.app.inject({ method: "GET", url: "/metrics" });
      expect(res.statusCode).toBe(200);
      for (const name of PROCESS_METRICS) expect(res.body).toMatch(new RegExp(`^# TYPE ${name} `, "m"));
      expect(res.body).not.toContain("frontdesk_nodejs_");
      expect(res.body).not.toContain("frontdesk_process_");
      expect(res.body).toContain("frontdesk_http_request_duration_seconds");
      expect(metricValue(res.body, "process_cpu_user_seconds_total")).toBeGreaterThan(0);
      expect(metricValue(res.body, "nodejs_heap_size_used_bytes")).toBeGreaterThan(1024 * 1024);
    } finally {
      await h.close();
    }
  });

  it("can be turned off", async () => {
    const h = await createHarness({ metricsAuth: "public", processMetrics: false });
    try {
      const res = await h.app.inject({ method: "GET", url: "/metrics" });
      expect(res.statusCode).toBe(200);
      expect(res.body).not.toContain("nodejs_eventloop_lag_seconds");
      expect(res.body).toContain("frontdesk_http_request_duration_seconds");
    } finally {
      await h.close();
    }
  });

  it("creating and closing many apps with them on leaves no handle or timer running", async () => {
    const warm = await createHarness({ metricsAuth: "public" });
    await warm.app.inject({ method: "GET", url: "/metrics" });
    await warm.close();
    const before = process.getActiveResourcesInfo().length;
    for (let i = 0; i < 20; i++) {
      const h = await createHarness({ metricsAuth: "public" });
      const res = await h.app.inject({ method: "GET", url: "/metrics" });
      expect(res.body).toContain("nodejs_eventloop_lag_seconds");
      await h.close();
    }
    // A scrape leaves an Immediate behind for a moment (the lag probe); nothing stays.
    await vi.waitFor(() => expect(process.getActiveResourcesInfo().length).toBeLessThanOrEqual(before), {
      timeout: 5000,
    });
  });
});
