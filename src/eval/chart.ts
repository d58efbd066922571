/**
 * A hand-written SVG line chart of each row's headline metric over event time: the evaluated
 * units are cut into buckets of equal count, and each bucket's mean is drawn at its median time.
 */
import type { Sample } from './types.ts';

export interface ChartLine {
  name: string;
  series: readonly Sample[];
}

export interface ChartOptions {
  title: string;
  metric: string;
  buckets?: number;
  width?: number;
  height?: number;
}

const COLORS = ['#d62728', '#7f7f7f', '#1f77b4', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b'];
const MARGIN = { left: 60, right: 20, top: 40, bottom: 50 };

function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** Means of consecutive, equally sized groups of samples, each at its median time. */
export function bucketize(series: readonly Sample[], buckets: number): Sample[] {
  if (series.length === 0) return [];
  const size = Math.max(1, Math.ceil(series.length / buckets));
  const out: Sample[] = [];
  for (let start = 0; start < series.length; start += size) {
    const group = series.slice(start, start + size);
    const mean = group.reduce((s, x) => s + x.value, 0) / group.length;
    out.push({ ts: (group[Math.floor(group.length / 2)] as Sample).ts, value: mean });
  }
  return out;
}

function niceMax(value: number): number {
  if (value <= 0) return 1;
  const step = 10 ** Math.floor(Math.log10(value));
  return Math.ceil((value * 1.05) / step) * step;
}

function label(ts: number, spanMs: number): string {
  const iso = new Date(ts).toISOString();
  return spanMs < 2 * 86_400_000 ? iso.slice(5, 16).replace('T', ' ') : iso.slice(0, 10);
}

/** One SVG element; attribute values and text are escaped. */
function el(name: string, attrs: Record<string, string | number>, text?: string): string {
  const list = Object.entries(attrs)
    .map(([k, v]) => `${k}="${escape(typeof v === 'number' ? String(Math.round(v * 10) / 10) : v)}"`)
    .join(' ');
  return text === undefined ? `<${name} ${list}/>` : `<${name} ${list}>${escape(text)}</${name}>`;
}

export function renderChart(lines: readonly ChartLine[], opts: ChartOptions): string {
  const width = opts.width ?? 900;
  const height = opts.height ?? 420;
  const { left, top } = MARGIN;
  const plotW = width - left - MARGIN.right;
  const plotH = height - top - MARGIN.bottom;
  const points = lines.map((l) => bucketize(l.series, opts.buckets ?? 40));
  const all = points.flat();
  const t0 = all.length === 0 ? 0 : Math.min(...all.map((p) => p.ts));
  const t1 = all.length === 0 ? 0 : Math.max(...all.map((p) => p.ts));
  const span = t1 > t0 ? t1 - t0 : 1;
  const yMax = niceMax(Math.max(0, ...all.map((p) => p.value)));
  const x = (ts: number) => left + ((ts - t0) / span) * plotW;
  const y = (v: number) => top + plotH - (v / yMax) * plotH;

  const svg = { xmlns: 'http://www.w3.org/2000/svg', width, height, viewBox: `0 0 ${width} ${height}` };
  const out: string[] = [
    el('svg', { ...svg, 'font-family': 'sans-serif', 'font-size': 12 }).replace('/>', '>'),
    el('rect', { width, height, fill: 'white' }),
    el('text', { x: left, y: 24, 'font-size': 15 }, opts.title),
  ];
  for (let i = 0; i <= 5; i++) {
    const v = (yMax * i) / 5;
    const ts = t0 + (span * i) / 5;
    out.push(
      el('line', { x1: left, x2: left + plotW, y1: y(v), y2: y(v), stroke: '#e5e5e5' }),
      el('text', { x: left - 6, y: y(v) + 4, 'text-anchor': 'end' }, String(Number(v.toPrecision(3)))),
      el('text', { x: x(ts), y: top + plotH + 18, 'text-anchor': 'middle' }, label(ts, span)),
    );
  }
  const yLabel = { transform: `translate(16 ${top + plotH / 2}) rotate(-90)`, 'text-anchor': 'middle' };
  out.push(
    el('rect', { x: left, y: top, width: plotW, height: plotH, fill: 'none', stroke: '#999' }),
    el('text', { x: left + plotW / 2, y: height - 10, 'text-anchor': 'middle' }, 'event time (UTC)'),
    el('text', yLabel, opts.metric),
  );
  points.forEach((line, i) => {
    const stroke = COLORS[i % COLORS.length] as string;
    const path = line.map((p) => `${x(p.ts).toFixed(1)},${y(p.value).toFixed(1)}`).join(' ');
    const strokeWidth = i === 0 ? 2.5 : 1.5;
    if (line.length > 0) {
      out.push(el('polyline', { fill: 'none', stroke, 'stroke-width': strokeWidth, points: path }));
    }
    const ly = top + 14 + i * 16;
    const lx = left + plotW - 180;
    out.push(
      el('line', { x1: lx, x2: lx + 20, y1: ly - 4, y2: ly - 4, stroke, 'stroke-width': 2.5 }),
      el('text', { x: lx + 26, y: ly }, (lines[i] as ChartLine).name),
    );
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}
