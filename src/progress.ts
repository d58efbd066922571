/**
 * Progress of a long run. On a TTY one bar line is redrawn in place
 * (`[####----] 42% 8,400/20,000 3,120/s eta 4s`); elsewhere a plain line is written when 5% more
 * is done or 10 s have passed since the last one. With an unknown total only count and rate show.
 */

export interface ProgressStream {
  write(chunk: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface ProgressOptions {
  /** Expected count; unknown when omitted. */
  total?: number;
  /** Default process.stderr. */
  stream?: ProgressStream;
  /** Overrides `stream.isTTY`. */
  tty?: boolean;
  /** Milliseconds from any fixed origin; default performance.now. */
  now?: () => number;
  /** Printed before the bar, e.g. `replay`. */
  label?: string;
}

export interface Progress {
  /** Adds `n` (default 1) to the count and maybe redraws. */
  tick(n?: number): void;
  /** Writes the final line; later calls do nothing. */
  done(): void;
  readonly count: number;
}

export interface ProgressState {
  count: number;
  total?: number | undefined;
  elapsedMs: number;
  /** Final line: shows elapsed time instead of the eta. */
  finished?: boolean;
  /** Bar width in characters; 0 leaves the bar out. */
  barWidth?: number;
}

const numberFormat = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
const BAR_WIDTH = 20;
const TTY_REDRAW_MS = 100;
const PLAIN_STEP_PERCENT = 5;
const PLAIN_INTERVAL_MS = 10_000;

export function formatCount(n: number): string {
  return numberFormat.format(n);
}

/** Whole seconds as `4s`, `1m05s` or `2h03m`. */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** One progress line, without line breaks or escape codes. */
export function formatProgress(state: ProgressState): string {
  const { count, total, elapsedMs } = state;
  const rate = elapsedMs > 0 ? (count * 1000) / elapsedMs : 0;
  const parts: string[] = [];
  const known = total !== undefined && total > 0;
  if (known) {
    const fraction = Math.min(1, count / total);
    const width = state.barWidth ?? BAR_WIDTH;
    if (width > 0) {
      const filled = Math.floor(fraction * width);
      parts.push(`[${'#'.repeat(filled)}${'-'.repeat(width - filled)}]`);
    }
    parts.push(`${Math.floor(fraction * 100)}%`, `${formatCount(count)}/${formatCount(total)}`);
  } else {
    parts.push(formatCount(count));
  }
  parts.push(`${formatCount(rate)}/s`);
  if (state.finished === true) {
    parts.push(`in ${formatDuration(elapsedMs / 1000)}`);
  } else if (known && rate > 0) {
    parts.push(`eta ${formatDuration(Math.ceil(Math.max(0, total - count) / rate))}`);
  }
  return parts.join(' ');
}

export function createProgress(opts: ProgressOptions = {}): Progress {
  const stream = opts.stream ?? process.stderr;
  const tty = opts.tty ?? stream.isTTY === true;
  const now = opts.now ?? (() => performance.now());
  const total = opts.total;
  const prefix = opts.label === undefined ? '' : `${opts.label} `;
  const started = now();
  let count = 0;
  let finished = false;
  let lastWrite: number | undefined;
  let lastStep = 0;

  const line = (at: number, final: boolean): string =>
    prefix +
    formatProgress({
      count,
      total,
      elapsedMs: at - started,
      finished: final,
      barWidth: tty ? BAR_WIDTH : 0,
    });

  const draw = (at: number, final: boolean): void => {
    lastWrite = at;
    if (!tty) {
      stream.write(`${line(at, final)}\n`);
      return;
    }
    let text = line(at, final);
    const columns = stream.columns;
    if (columns !== undefined && columns > 1 && text.length >= columns) {
      text = text.slice(0, columns - 1);
    }
    stream.write(`\r${text}\x1b[K${final ? '\n' : ''}`);
  };

  const step = (): number =>
    total === undefined || total <= 0
      ? 0
      : Math.floor((Math.min(1, count / total) * 100) / PLAIN_STEP_PERCENT);

  return {
    get count() {
      return count;
    },
    tick(n = 1) {
      if (finished) return;
      count += n;
      const at = now();
      if (tty) {
        if (lastWrite === undefined || at - lastWrite >= TTY_REDRAW_MS) draw(at, false);
        return;
      }
      const s = step();
      const complete = total !== undefined && total > 0 && count >= total; // done() writes it
      if (!complete && (s > lastStep || at - (lastWrite ?? started) >= PLAIN_INTERVAL_MS)) {
        lastStep = s;
        draw(at, false);
      }
    },
    done() {
      if (finished) return;
      finished = true;
      draw(now(), true);
    },
  };
}
