/**
 * Dependency-free SVG line plots for the benchmark report: cost against history length on log–log
 * axes, one line per store. The output is a plain SVG 1.1 document (no scripts, no external fonts,
 * no CSS classes), which GitHub renders inline from Markdown.
 */

export interface PlotPoint {
  x: number;
  y: number;
}

export interface PlotSeries {
  name: string;
  points: PlotPoint[];
  /** Frontdesk's lines are drawn solid and thicker, the peers' dashed. */
  emphasis?: boolean;
  /** The raw driver's lines, the ceiling the others are held against: grey and dotted. */
  ceiling?: boolean;
}

export interface PlotOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  series: PlotSeries[];
  /** How tick values on the y axis are written, e.g. as µs / ms / s. */
  formatY?: (value: number) => string;
  width?: number;
  height?: number;
}

/** The raw driver rows' greys, dark to light. */
const CEILING_GREYS = ["#555555", "#888888", "#aaaaaa"];

/** A colour-blind-safe palette (Okabe–Ito, then Tol's muted), cycled when there are more lines. */
const PALETTE = [
  "#0072B2",
  "#D55E00",
  "#009E73",
  "#CC79A7",
  "#E69F00",
  "#56B4E9",
  "#000000",
  "#882255",
  "#44AA99",
  "#999933",
  "#AA4499",
  "#661100",
];

const escapeXml = (text: string): string =>
  text.replace(/[<>&"']/g, (c) => ({ "<": "&lt;", ">": "&gt;", "&": "&amp;", '"': "&quot;", "'": "&apos;" })[c] ?? c);

const round = (value: number): string => (Math.round(value * 10) / 10).toString();

/** Powers of ten covering [min, max], with 2× and 5× steps when the range spans two decades or less. */
export function logTicks(min: number, max: number): number[] {
  const low = Math.floor(Math.log10(min));
  const high = Math.ceil(Math.log10(max));
  const steps = high - low <= 2 ? [1, 2, 5] : [1];
  const ticks: number[] = [];
  for (let exponent = low; exponent <= high; exponent++) {
    for (const step of steps) {
      const value = step * 10 ** exponent;
      if (value >= min / 1.0001 && value <= max * 1.0001) ticks.push(value);
    }
  }
  return ticks;
}

/** A duration given in microseconds, written with the unit that keeps it short. */
export function formatMicros(us: number): string {
  if (us >= 1e6) return `${trim(us / 1e6)} s`;
  if (us >= 1e3) return `${trim(us / 1e3)} ms`;
  return `${trim(us)} µs`;
}

/** A byte count written in B, KB, MB or GB (powers of 1,000, as disk sizes are quoted). */
export function formatBytes(bytes: number): string {
  if (bytes >= 1e9) return `${trim(bytes / 1e9)} GB`;
  if (bytes >= 1e6) return `${trim(bytes / 1e6)} MB`;
  if (bytes >= 1e3) return `${trim(bytes / 1e3)} KB`;
  return `${trim(bytes)} B`;
}

/** Three significant digits at most, without trailing zeros after the point. */
const trim = (value: number): string => {
  const fixed = value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(2);
  return fixed.includes(".") ? fixed.replace(/\.?0+$/, "") : fixed;
};

const formatCount = (value: number): string => value.toLocaleString("en");

/** Renders the plot; series without a positive point are left out (log axes cannot show them). */
export function lineChartSvg(options: PlotOptions): string {
  const width = options.width ?? 880;
  const height = options.height ?? 420;
  const series = options.series
    .map((s) => ({ ...s, points: s.points.filter((p) => p.x > 0 && p.y > 0 && Number.isFinite(p.y)) }))
    .filter((s) => s.points.length > 0);
  const legendWidth = 300;
  const margin = { top: 40, right: legendWidth + 20, bottom: 56, left: 78 };
  const plotWidth = width - margin.left - margin.right;
  const plotHeight = height - margin.top - margin.bottom;
  const all = series.flatMap((s) => s.points);
  const xs = all.map((p) => p.x);
  const ys = all.map((p) => p.y);
  const xMin = xs.length ? Math.min(...xs) : 1;
  const xMax = xs.length ? Math.max(...xs) : 10;
  const yMin = ys.length ? 10 ** Math.floor(Math.log10(Math.min(...ys))) : 1;
  const yMax = ys.length ? 10 ** Math.ceil(Math.log10(Math.max(...ys))) : 10;
  const span = (low: number, high: number) => Math.max(1e-9, Math.log10(high) - Math.log10(low));
  const sx = (x: number) =>
    margin.left + (xMax === xMin ? plotWidth / 2 : ((Math.log10(x) - Math.log10(xMin)) / span(xMin, xMax)) * plotWidth);
  const sy = (y: number) =>
    margin.top + plotHeight - ((Math.log10(y) - Math.log10(yMin)) / span(yMin, yMax)) * plotHeight;
  const formatY = options.formatY ?? formatMicros;

  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="12">`,
    `<title>${escapeXml(options.title)}</title>`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="${margin.left}" y="22" font-size="15" font-weight="bold">${escapeXml(options.title)}</text>`,
  ];
  for (const tick of logTicks(yMin, yMax)) {
    const y = round(sy(tick));
    parts.push(
      `<line x1="${margin.left}" y1="${y}" x2="${margin.left + plotWidth}" y2="${y}" stroke="#e5e5e5"/>`,
      `<text x="${margin.left - 6}" y="${y}" text-anchor="end" dominant-baseline="middle" fill="#444">${escapeXml(formatY(tick))}</text>`,
    );
  }
  for (const tick of [...new Set(xs)].sort((a, b) => a - b)) {
    const x = round(sx(tick));
    parts.push(
      `<line x1="${x}" y1="${margin.top}" x2="${x}" y2="${margin.top + plotHeight}" stroke="#e5e5e5"/>`,
      `<text x="${x}" y="${margin.top + plotHeight + 18}" text-anchor="middle" fill="#444">${formatCount(tick)}</text>`,
    );
  }
  parts.push(
    `<rect x="${margin.left}" y="${margin.top}" width="${plotWidth}" height="${plotHeight}" fill="none" stroke="#888"/>`,
    `<text x="${margin.left + plotWidth / 2}" y="${height - 14}" text-anchor="middle">${escapeXml(options.xLabel)} (log scale)</text>`,
    `<text transform="translate(18 ${margin.top + plotHeight / 2}) rotate(-90)" text-anchor="middle">${escapeXml(options.yLabel)} (log scale)</text>`,
  );
  let ceilings = 0;
  series.forEach((s, i) => {
    const colour = s.ceiling
      ? (CEILING_GREYS[ceilings++ % CEILING_GREYS.length] as string)
      : (PALETTE[i % PALETTE.length] as string);
    const points = [...s.points].sort((a, b) => a.x - b.x);
    const dash = s.emphasis ? "" : s.ceiling ? ` stroke-dasharray="2 3"` : ` stroke-dasharray="6 4"`;
    const strokeWidth = s.emphasis ? 2.5 : 1.6;
    parts.push(
      `<polyline fill="none" stroke="${colour}" stroke-width="${strokeWidth}"${dash} points="${points.map((p) => `${round(sx(p.x))},${round(sy(p.y))}`).join(" ")}"><title>${escapeXml(s.name)}</title></polyline>`,
      ...points.map(
        (p) =>
          `<circle cx="${round(sx(p.x))}" cy="${round(sy(p.y))}" r="3" fill="${colour}"><title>${escapeXml(`${s.name}: ${formatY(p.y)} at ${formatCount(p.x)}`)}</title></circle>`,
      ),
    );
    const legendY = margin.top + 8 + i * 20;
    const legendX = width - legendWidth;
    parts.push(
      `<line x1="${legendX}" y1="${legendY}" x2="${legendX + 26}" y2="${legendY}" stroke="${colour}" stroke-width="${strokeWidth}"${dash}/>`,
      `<text x="${legendX + 32}" y="${legendY}" dominant-baseline="middle">${escapeXml(s.name)}</text>`,
    );
  });
  parts.push("</svg>");
  return `${parts.join("\n")}\n`;
}
