/**
 * Statistics of the loaded events, drawn as plain SVG (no chart library): tokens per turn, tool
 * calls by tool, and latency per tool (min, median, 95th percentile, max).
 */
import type { FrontdeskEvent, Session } from "../api/client.ts";
import { cost, count, duration, tokens } from "../format.ts";

export interface TurnUsage {
  label: string;
  firstSeq: number;
  input: number;
  output: number;
  costUsd: number;
}

export interface ToolSummary {
  tool: string;
  success: number;
  failed: number;
  pending: number;
  durations: number[];
}

export interface EventStats {
  turns: TurnUsage[];
  tools: ToolSummary[];
}

const num = (value: unknown): number => (typeof value === "number" && Number.isFinite(value) ? value : 0);

/** Turns are grouped by the `turnId` an agent puts on its messages; without one each reply is a turn. */
export function computeStats(events: readonly FrontdeskEvent[]): EventStats {
  const turns = new Map<string, TurnUsage>();
  const tools = new Map<string, ToolSummary>();
  const called = new Map<string, string>();
  const finished = new Set<string>();
  const toolOf = (name: string): ToolSummary => {
    let entry = tools.get(name);
    if (!entry) {
      entry = { tool: name, success: 0, failed: 0, pending: 0, durations: [] };
      tools.set(name, entry);
    }
    return entry;
  };
  for (const event of events) {
    if (event.type === "message" && event.usage) {
      const turnId = typeof event.turnId === "string" ? event.turnId : `seq-${event.seq}`;
      let turn = turns.get(turnId);
      if (!turn) {
        turn = { label: String(turns.size + 1), firstSeq: event.seq, input: 0, output: 0, costUsd: 0 };
        turns.set(turnId, turn);
      }
      turn.input += num(event.usage.inputTokens);
      turn.output += num(event.usage.outputTokens);
      turn.costUsd += num(event.usage.costUsd);
    } else if (event.type === "tool_call") {
      called.set(event.invocationId, event.tool);
    } else if (event.type === "tool_result") {
      finished.add(event.invocationId);
      const entry = toolOf(event.tool);
      if (event.status === "success") entry.success++;
      else if (event.status === "pending") entry.pending++;
      else entry.failed++;
      if (typeof event.durationMs === "number") entry.durations.push(event.durationMs);
    }
  }
  for (const [invocationId, tool] of called) if (!finished.has(invocationId)) toolOf(tool).pending++;
  return {
    turns: [...turns.values()],
    tools: [...tools.values()].sort(
      (a, b) => b.success + b.failed - (a.success + a.failed) || (a.tool < b.tool ? -1 : 1),
    ),
  };
}

export function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return 0;
  const position = (sorted.length - 1) * q;
  const low = Math.floor(position);
  const high = Math.ceil(position);
  return sorted[low]! + (sorted[high]! - sorted[low]!) * (position - low);
}

/** A round axis maximum above `value`: 1, 2 or 5 times a power of ten. */
function niceMax(value: number): number {
  if (value <= 0) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (step * power >= value) return step * power;
  return 10 * power;
}

export function StatsPanel({ session, events }: { session: Session; events: readonly FrontdeskEvent[] }) {
  const stats = computeStats(events);
  const s = session.stats;
  return (
    <div className="stats-panel">
      <dl className="kpis">
        <Kpi label="Messages" value={count(s.messages)} />
        <Kpi
          label="Tool calls"
          value={count(s.toolCalls)}
          note={s.toolErrors > 0 ? `${s.toolErrors} failed` : undefined}
        />
        <Kpi label="Input tokens" value={tokens(s.inputTokens)} />
        <Kpi label="Output tokens" value={tokens(s.outputTokens)} />
        <Kpi label="Cost" value={cost(s.costUsd)} />
        <Kpi label="Time in tools" value={duration(s.durationMs)} />
      </dl>
      <section className="chart-card" aria-labelledby="chart-tokens">
        <h3 id="chart-tokens">Tokens per turn</h3>
        <TokensChart turns={stats.turns} />
      </section>
      <section className="chart-card" aria-labelledby="chart-tools">
        <h3 id="chart-tools">Tool calls by tool</h3>
        <ToolCallsChart tools={stats.tools} />
      </section>
      <section className="chart-card" aria-labelledby="chart-latency">
        <h3 id="chart-latency">Latency per tool</h3>
        <LatencyChart tools={stats.tools} />
      </section>
    </div>
  );
}

function Kpi({ label, value, note }: { label: string; value: string; note?: string }) {
  return (
    <div className="kpi">
      <dt>{label}</dt>
      <dd>
        {value}
        {note && <span className="kpi-note">{note}</span>}
      </dd>
    </div>
  );
}

const Empty = ({ children }: { children: string }) => <p className="chart-empty">{children}</p>;

export function TokensChart({ turns }: { turns: TurnUsage[] }) {
  if (turns.length === 0) return <Empty>No model usage recorded yet.</Empty>;
  const shown = turns.slice(-60);
  const width = 320;
  const height = 150;
  const pad = { left: 36, right: 6, top: 8, bottom: 20 };
  const max = niceMax(Math.max(...shown.map((t) => t.input + t.output)));
  const plotW = width - pad.left - pad.right;
  const plotH = height - pad.top - pad.bottom;
  const slot = plotW / shown.length;
  const bar = Math.max(1, Math.min(24, slot * 0.7));
  const y = (v: number) => pad.top + plotH - (v / max) * plotH;
  const labelEvery = Math.ceil(shown.length / 8);
  return (
    <figure className="chart">
      <svg viewBox={`0 0 ${width} ${height}`} role="img" aria-label={`Tokens per turn for ${shown.length} turns`}>
        {[0, 0.5, 1].map((f) => (
          <g key={f}>
            <line className="grid-line" x1={pad.left} x2={width - pad.right} y1={y(max * f)} y2={y(max * f)} />
            <text className="axis-label" x={pad.left - 4} y={y(max * f) + 3} textAnchor="end">
              {tokens(max * f)}
            </text>
          </g>
        ))}
        {shown.map((turn, i) => {
          const x = pad.left + slot * i + (slot - bar) / 2;
          return (
            <g key={turn.firstSeq}>
              <title>{`Turn ${turn.label}: ${turn.input} input + ${turn.output} output tokens, ${cost(turn.costUsd)}`}</title>
              <rect className="bar-input" x={x} width={bar} y={y(turn.input)} height={y(0) - y(turn.input)} />
              <rect
                className="bar-output"
                x={x}
                width={bar}
                y={y(turn.input + turn.output)}
                height={y(turn.input) - y(turn.input + turn.output)}
              />
              {i % labelEvery === 0 && (
                <text className="axis-label" x={x + bar / 2} y={height - 6} textAnchor="middle">
                  {turn.label}
                </text>
              )}
            </g>
          );
        })}
      </svg>
      <figcaption className="legend">
        <span className="swatch swatch-input" /> input <span className="swatch swatch-output" /> output
        {turns.length > shown.length && <span className="muted"> · last {shown.length} turns</span>}
      </figcaption>
    </figure>
  );
}

export function ToolCallsChart({ tools }: { tools: ToolSummary[] }) {
  if (tools.length === 0) return <Empty>No tool calls yet.</Empty>;
  const rowH = 22;
  const width = 320;
  const labelW = 96;
  const valueW = 34;
  const height = tools.length * rowH + 4;
  const max = Math.max(...tools.map((t) => t.success + t.failed + t.pending));
  const scale = (v: number) => (v / max) * (width - labelW - valueW);
  return (
    <figure className="chart">
      <svg viewBox={`0 0 ${width} ${height}`} role="img" aria-label="Tool calls by tool">
        {tools.map((t, i) => {
          const y = i * rowH + 4;
          const total = t.success + t.failed + t.pending;
          return (
            <g key={t.tool}>
              <title>{`${t.tool}: ${t.success} succeeded, ${t.failed} failed or denied, ${t.pending} pending`}</title>
              <text className="axis-label label-strong" x={labelW - 6} y={y + 11} textAnchor="end">
                {t.tool.length > 14 ? `${t.tool.slice(0, 13)}…` : t.tool}
              </text>
              <rect className="bar-success" x={labelW} y={y} height={14} width={scale(t.success)} />
              <rect className="bar-error" x={labelW + scale(t.success)} y={y} height={14} width={scale(t.failed)} />
              <rect
                className="bar-pending"
                x={labelW + scale(t.success + t.failed)}
                y={y}
                height={14}
                width={scale(t.pending)}
              />
              <text className="axis-label" x={labelW + scale(total) + 4} y={y + 11}>
                {total}
              </text>
            </g>
          );
        })}
      </svg>
      <figcaption className="legend">
        <span className="swatch swatch-success" /> succeeded <span className="swatch swatch-error" /> failed or denied{" "}
        <span className="swatch swatch-pending" /> pending
      </figcaption>
    </figure>
  );
}

export function LatencyChart({ tools }: { tools: ToolSummary[] }) {
  const timed = tools.filter((t) => t.durations.length > 0);
  if (timed.length === 0) return <Empty>No tool durations recorded yet.</Empty>;
  const rows = timed.map((t) => {
    const sorted = [...t.durations].sort((a, b) => a - b);
    return {
      tool: t.tool,
      n: sorted.length,
      min: sorted[0]!,
      p50: quantile(sorted, 0.5),
      p95: quantile(sorted, 0.95),
      max: sorted.at(-1)!,
    };
  });
  const rowH = 30;
  const width = 320;
  const labelW = 96;
  const right = 12;
  const height = rows.length * rowH + 18;
  const max = niceMax(Math.max(...rows.map((r) => r.max)));
  const x = (v: number) => labelW + (v / max) * (width - labelW - right);
  return (
    <figure className="chart">
      <svg viewBox={`0 0 ${width} ${height}`} role="img" aria-label="Latency per tool">
        {[0, 0.5, 1].map((f) => (
          <g key={f}>
            <line className="grid-line" x1={x(max * f)} x2={x(max * f)} y1={0} y2={height - 14} />
            <text className="axis-label" x={x(max * f)} y={height - 3} textAnchor={f === 1 ? "end" : "middle"}>
              {duration(max * f)}
            </text>
          </g>
        ))}
        {rows.map((r, i) => {
          const y = i * rowH + 12;
          return (
            <g key={r.tool}>
              <title>{`${r.tool} (${r.n} calls): min ${duration(r.min)}, median ${duration(r.p50)}, p95 ${duration(r.p95)}, max ${duration(r.max)}`}</title>
              <text className="axis-label label-strong" x={labelW - 6} y={y + 4} textAnchor="end">
                {r.tool.length > 14 ? `${r.tool.slice(0, 13)}…` : r.tool}
              </text>
              <line className="range-line" x1={x(r.min)} x2={x(r.max)} y1={y} y2={y} />
              <rect className="range-box" x={x(r.p50)} y={y - 5} width={Math.max(2, x(r.p95) - x(r.p50))} height={10} />
              <circle className="range-median" cx={x(r.p50)} cy={y} r={4} />
              <text className="axis-label" x={x(r.p50)} y={y + 15} textAnchor="middle">
                {duration(r.p50)}
              </text>
            </g>
          );
        })}
      </svg>
      <figcaption className="legend">
        <span className="swatch swatch-median" /> median <span className="swatch swatch-p95" /> to p95, line min–max
      </figcaption>
    </figure>
  );
}
