import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

/** Prometheus metrics of one app. Each app has its own Registry, so two apps in one process never share counters. */
export interface ServerMetrics {
  readonly registry: Registry;
  readonly requestDuration: Histogram<"method" | "route" | "status">;
  readonly sessionsCreated: Counter;
  readonly eventsAppended: Counter;
  readonly openStreams: Gauge<"kind">;
  readonly streamsEnded: Counter<"kind" | "reason">;
  readonly storeErrors: Counter;
  readonly rateLimited: Counter;
  readonly turns: Counter<"status">;
  readonly runningTurns: Gauge;
}

/**
 * prom-client's default metrics (event-loop lag, heap, GC, handles, CPU, memory) under their
 * standard names, so stock Node.js dashboards work. They describe the process, not an app, and
 * collecting them starts an event-loop delay monitor and a GC observer that prom-client never
 * stops: so they are made once per process, on first use, and every app's registry takes in the
 * same metric objects. However many apps a process creates (tests make hundreds), it runs one
 * monitor and one observer, and a closed app leaves nothing running behind it.
 */
let processMetrics: Registry | undefined;
const sharedProcessMetrics = (): Registry => {
  if (!processMetrics) {
    processMetrics = new Registry();
    collectDefaultMetrics({ register: processMetrics });
  }
  return processMetrics;
};

export function createServerMetrics(options: { processMetrics?: boolean } = {}): ServerMetrics {
  const registry = new Registry();
  if (options.processMetrics ?? true) {
    const process = sharedProcessMetrics();
    for (const { name } of process.getMetricsAsArray()) {
      const metric = process.getSingleMetric(name);
      if (metric) registry.registerMetric(metric);
    }
  }
  return {
    registry,
    requestDuration: new Histogram({
      name: "frontdesk_http_request_duration_seconds",
      help: "HTTP request latency by route template and status",
      labelNames: ["method", "route", "status"],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
    sessionsCreated: new Counter({
      name: "frontdesk_sessions_created_total",
      help: "Sessions created (including forks and imports)",
      registers: [registry],
    }),
    eventsAppended: new Counter({
      name: "frontdesk_events_appended_total",
      help: "Events appended through POST /v1/sessions/{id}/events (idempotent replays excluded)",
      registers: [registry],
    }),
    openStreams: new Gauge({
      name: "frontdesk_open_streams",
      help: "Live event streams open on this instance",
      labelNames: ["kind"],
      registers: [registry],
    }),
    streamsEnded: new Counter({
      name: "frontdesk_streams_ended_total",
      help: "Event streams the server ended, by reason (end, overflow, shutdown, error)",
      labelNames: ["kind", "reason"],
      registers: [registry],
    }),
    storeErrors: new Counter({
      name: "frontdesk_store_errors_total",
      help: "Requests that failed because the store was unavailable or failed unexpectedly",
      registers: [registry],
    }),
    rateLimited: new Counter({
      name: "frontdesk_rate_limited_total",
      help: "Requests refused with 429",
      registers: [registry],
    }),
    turns: new Counter({
      name: "frontdesk_agent_turns_total",
      help: "Agent turns run on this instance, by how they ended (completed, cancelled, error)",
      labelNames: ["status"],
      registers: [registry],
    }),
    runningTurns: new Gauge({
      name: "frontdesk_agent_running_turns",
      help: "Agent turns running on this instance",
      registers: [registry],
    }),
  };
}
