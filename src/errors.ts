/** Closed list of error codes; callers branch on `code`, never on message text. */
export type ErrorCode =
  | 'config_invalid'
  | 'pipeline_file_invalid'
  | 'event_invalid'
  | 'request_invalid'
  | 'not_found'
  | 'state_fenced'
  | 'store_unavailable'
  | 'stopped'
  | 'dataset_invalid';

export interface FreshetErrorOptions {
  field?: string;
  retryable?: boolean;
  cause?: unknown;
  context?: Record<string, unknown>;
}

export class FreshetError extends Error {
  readonly code: ErrorCode;
  readonly field: string | undefined;
  readonly retryable: boolean;
  readonly context: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, options: FreshetErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'FreshetError';
    this.code = code;
    this.field = options.field;
    this.retryable = options.retryable ?? false;
    this.context = options.context;
  }
}
