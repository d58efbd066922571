import type {
  ErrorLogParams,
  Logger as ClickHouseLogger,
  LogParams,
  WarnLogParams,
} from '@clickhouse/client';
import type { Logger } from '../log.ts';

/**
 * A logger class for @clickhouse/client that writes into ours, at debug level.
 * The client's default one prints to the console: every failed request while
 * ClickHouse is down, which the caller already handles (the flusher reports
 * and retries it as one warning).
 */
export function clickhouseLogClass(logger: Logger | undefined): new () => ClickHouseLogger {
  const write = (p: LogParams & { err?: Error }) => {
    if (logger?.isLevelEnabled('debug'))
      logger.debug({ module: p.module, err: p.err, ...p.args }, p.message);
  };
  return class {
    trace(): void {}
    debug(): void {}
    info(p: LogParams): void {
      write(p);
    }
    warn(p: WarnLogParams): void {
      write(p);
    }
    error(p: ErrorLogParams): void {
      write(p);
    }
  };
}
