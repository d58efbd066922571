/**
 * Open-loop HTTP load: requests start on a fixed schedule whatever the
 * answers do, and each latency is measured from its scheduled start, so
 * queueing shows up in the percentiles instead of slowing the generator.
 *
 *   node bench/load.ts URL_TEMPLATE RATE SECONDS IDS_FILE
 *
 * URL_TEMPLATE contains {id}, replaced by ids taken round-robin from IDS_FILE
 * (one per line). Prints one JSON line: { sent, ok, errors, achievedRate, p50Ms, p99Ms, maxMs }.
 */
import { Agent, get } from 'node:http';
import { readFileSync } from 'node:fs';

const [template, rateText, secondsText, idsFile] = process.argv.slice(2);
if (!template || !rateText || !secondsText || !idsFile) {
  process.stderr.write('usage: node bench/load.ts URL_TEMPLATE RATE SECONDS IDS_FILE\n');
  process.exit(2);
}
const rate = Number(rateText);
const total = Math.round(rate * Number(secondsText));
const ids = readFileSync(idsFile, 'utf8').trim().split('\n');
const agent = new Agent({ keepAlive: true, maxSockets: 256 });
const latencies: number[] = [];
let ok = 0;
let errors = 0;
let finished = 0;

const started = performance.now();
await new Promise<void>((resolve) => {
  const fire = (i: number, scheduled: number) => {
    const url = template.replace('{id}', encodeURIComponent(ids[i % ids.length] as string));
    get(url, { agent }, (res) => {
      res.resume();
      res.on('end', () => {
        latencies.push(performance.now() - scheduled);
        if (res.statusCode === 200) ok++;
        else errors++;
        if (++finished === total) resolve();
      });
    }).on('error', () => {
      errors++;
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
const elapsed = (performance.now() - started) / 1000;
latencies.sort((a, b) => a - b);
const at = (p: number) => latencies[Math.min(latencies.length - 1, Math.ceil((p / 100) * latencies.length) - 1)] ?? NaN;
process.stdout.write(
  JSON.stringify({ sent: total, ok, errors, achievedRate: total / elapsed, p50Ms: at(50), p99Ms: at(99), maxMs: latencies.at(-1) }) + '\n',
);
agent.destroy();
