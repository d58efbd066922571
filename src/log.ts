import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * Sends the process's warnings to the logger instead of raw stderr lines.
 * kafkajs 2.2.4 schedules timers with negative delays on current Node.js
 * (TimeoutNegativeWarning, harmless: Node treats them as 1 ms); those are dropped.
 */
export function routeProcessWarnings(logger: Logger): void {
  process.removeAllListeners('warning');
  process.on('warning', (warning) => {
    if (warning.name === 'TimeoutNegativeWarning') return;
    logger.warn({ component: 'process', err: warning }, 'process warning');
  });
}

/** The root logger; components take `logger.child({ component })` from it. */
export function createLogger(level: string, destination: NodeJS.WritableStream = process.stderr): Logger {
  return pino({ level, base: { service: 'freshet' }, timestamp: pino.stdTimeFunctions.isoTime }, destination);
}
