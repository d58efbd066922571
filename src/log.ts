import { pino, type Logger } from 'pino';

export type { Logger };

/** The root logger; components take `logger.child({ component })` from it. */
export function createLogger(level: string, destination: NodeJS.WritableStream = process.stderr): Logger {
  return pino({ level, base: { service: 'freshet' }, timestamp: pino.stdTimeFunctions.isoTime }, destination);
}
