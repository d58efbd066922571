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

const [template, rateText, secondsText, idsFile, warmupText, warmupIdsFile] = process.argv.slice(2);
if (!template || !rateText || !secondsText || !idsFile || (warmupText !== undefined && !warmupIdsFile)) {
  process.stderr.write('usage: node bench/load.ts URL_TEMPLATE RATE SECONDS IDS_FILE [WARMUP_SECONDS WARMUP_IDS_FILE]\n');
  process.exit(2);
}
const readIds = (file: string) => readFileSync(file, 'utf8').trim().split('\n');
const rate = Number(rateText);
const measured = Math.round(rate * Number(secondsText));
const warmup = warmupIdsFile ? Math.round(rate * Number(warmupText)) : 0;
const total = warmup + measured;
const ids = readIds(idsFile);
const warmIds = warmupIdsFile ? readIds(warmupIdsFile) : [];
const agent = new Agent({ keepAlive: true, maxSockets: 256 });
const latencies: number[] = [];
let ok = 0;
let errors = 0;
let finished = 0;

const started = performance.now();
const measuredFrom = started + (warmup * 1000) / rate;
await new Promise<void>((resolve) => {
  const fire = (i: number, scheduled: number) => {
    const warming = i < warmup;
    const id = warming ? warmIds[i % warmIds.length] : ids[(i - warmup) % ids.length];
    const url = template.replace('{id}', encodeURIComponent(id as string));
    get(url, { agent }, (res) => {
      res.resume();
      res.on('end', () => {
        if (!warming) {
          latencies.push(performance.now() - scheduled);
          if (res.statusCode === 200) ok++;
          else errors++;
        }
        if (++finished === total) resolve();
      });
    }).on('error', () => {
      if (!warming) errors++;
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
const elapsed = (performance.now() - measuredFrom) / 1000;
latencies.sort((a, b) => a - b);
const at = (p: number) => latencies[Math.min(latencies.length - 1, Math.ceil((p / 100) * latencies.length) - 1)] ?? NaN;
process.stdout.write(
  JSON.stringify({ sent: measured, ok, errors, achievedRate: measured / elapsed, p50Ms: at(50), p99Ms: at(99), maxMs: latencies.at(-1) }) + '\n',
);
agent.destroy();
