/**
 * Open-loop HTTP load: requests start on a fixed schedule whatever the
 * answers do, and each latency is measured from its scheduled start, so
 * queueing shows up in the percentiles instead of slowing the generator.
 *
 *   node bench/load.ts URL_TEMPLATE RATE SECONDS IDS_FILE [WARMUP_SECONDS WARMUP_IDS_FILE]
 *
 * URL_TEMPLATE contains {id}, replaced by ids taken round-robin from IDS_FILE
 * (one per line). With a warm-up, the same rate runs first for WARMUP_SECONDS
 * over the ids of WARMUP_IDS_FILE, unmeasured, and the measured schedule
 * follows without a pause: this process's own start (its compiler, its pool
 * of connections) is then not part of the figures, as it would not be for a
 * client service that has been running. Prints one JSON line about the
 * measured requests: { sent, ok, errors, achievedRate, p50Ms, p99Ms, maxMs }.
 */
import { Agent, get } from 'node:http';
import { readFileSync } from 'node:fs';

const usage = (problem: string): never => {
  process.stderr.write(`${problem}\nusage: node bench/load.ts URL_TEMPLATE RATE SECONDS IDS_FILE [WARMUP_SECONDS WARMUP_IDS_FILE]\n`);
  process.exit(2);
};
const [template, rateText, secondsText, idsFile, warmupText, warmupIdsFile] = process.argv.slice(2);
if (!template || !rateText || !secondsText || !idsFile || (warmupText !== undefined && !warmupIdsFile)) usage('missing arguments');
const number = (text: string | undefined, name: string, zero: boolean): number => {
  const value = Number(text);
  if (!Number.isFinite(value) || value < 0 || (value === 0 && !zero)) usage(`${name} must be a ${zero ? 'non-negative' : 'positive'} number, not ${text}`);
  return value;
};
const readIds = (file: string): string[] => {
  const list = readFileSync(file, 'utf8').split('\n').filter((line) => line !== '');
  if (list.length === 0) usage(`${file} holds no ids`);
  return list;
};
const rate = number(rateText, 'RATE', false);
const measured = Math.round(rate * number(secondsText, 'SECONDS', false));
const warmup = warmupIdsFile ? Math.round(rate * number(warmupText, 'WARMUP_SECONDS', true)) : 0;
if (measured < 1) usage('RATE × SECONDS makes no request');
const total = warmup + measured;
const ids = readIds(idsFile as string);
const warmIds = warmup > 0 ? readIds(warmupIdsFile as string) : [];
const agent = new Agent({ keepAlive: true, maxSockets: 256 });
const latencies: number[] = [];
let ok = 0;
let errors = 0;
let finished = 0;
/** When the last measured request ended: warm-up answers straggling after it do not count. */
let measuredEnd = 0;

const started = performance.now();
const measuredFrom = started + (warmup * 1000) / rate;
await new Promise<void>((resolve) => {
  const fire = (i: number, scheduled: number) => {
    const warming = i < warmup;
    const id = warming ? warmIds[i % warmIds.length] : ids[(i - warmup) % ids.length];
    const url = (template as string).replace('{id}', encodeURIComponent(id as string));
    get(url, { agent }, (res) => {
      res.resume();
      res.on('end', () => {
        if (!warming) {
          measuredEnd = performance.now();
          latencies.push(measuredEnd - scheduled);
          if (res.statusCode === 200) ok++;
          else errors++;
        }
        if (++finished === total) resolve();
      });
    }).on('error', () => {
      if (!warming) {
        measuredEnd = performance.now();
        errors++;
      }
      if (++finished === total) resolve();
    });
  };
  let next = 0;
  const tick = () => {
    const now = performance.now();
    while (next < total && started + (next * 1000) / rate <= now) {
      fire(next, started + (next * 1000) / rate);
      next++;
    }
    if (next < total) setTimeout(tick, 1);
  };
  tick();
});
const elapsed = (measuredEnd - measuredFrom) / 1000;
latencies.sort((a, b) => a - b);
const at = (p: number) => latencies[Math.min(latencies.length - 1, Math.ceil((p / 100) * latencies.length) - 1)] ?? NaN;
process.stdout.write(
  JSON.stringify({ sent: measured, ok, errors, achievedRate: measured / elapsed, p50Ms: at(50), p99Ms: at(99), maxMs: latencies.at(-1) }) + '\n',
);
agent.destroy();
