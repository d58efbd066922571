import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, watch, type FSWatcher } from 'node:fs';
import { join } from 'node:path';
import { MODEL_FILE } from '../config/model-file.ts';
import { YamlFile } from '../config/yaml-file.ts';
import { FreshetError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { parseScenario } from './parse.ts';
import type { Scenario } from './types.ts';

/** Why a file was not (re)loaded. */
export interface ScenarioLoadError {
  file: string;
  line: number;
  field: string;
  message: string;
}

export interface ReloadResult {
  /** Scenarios added, changed or removed, by name. */
  changed: string[];
  errors: ScenarioLoadError[];
}

export interface RegistryOptions {
  dir: string;
  logger: Logger;
  /** Quiet time after the last change in the directory before it is read again, ms. */
  debounceMs: number;
}

interface FileState {
  hash: string;
  text: string;
  /** The last good version; kept while a newer text of the file is broken. */
  scenario: Scenario | undefined;
  error: FreshetError | undefined;
}

const OTHER_KIND = /^kind:\s*["']?([A-Za-z0-9_-]+)/m;

function isScenarioFile(name: string): boolean {
  return /\.ya?ml$/.test(name) && !name.startsWith('.') && name !== MODEL_FILE;
}

function asFreshetError(err: unknown, file: string): FreshetError {
  if (err instanceof FreshetError) return err;
  return new FreshetError('pipeline_file_invalid', `${file}: ${(err as Error).message}`, {
    context: { file, line: 0 },
    cause: err,
  });
}

function describe(err: FreshetError): ScenarioLoadError {
  const context = err.context ?? {};
  return {
    file: String(context.file ?? ''),
    line: Number(context.line ?? 0),
    field: err.field ?? '',
    message: err.message,
  };
}

/**
 * The scenarios of a pipelines directory. Every version is immutable: a
 * request takes one with `get` and finishes on it whatever is reloaded
 * meanwhile. A file that fails validation never replaces its last good
 * version; a deleted file removes its scenario.
 */
export class ScenarioRegistry {
  private readonly options: RegistryOptions;
  private readonly logger: Logger;
  private files = new Map<string, FileState>();
  /** Files whose scenario name an earlier file already declares. */
  private duplicates = new Map<string, FreshetError>();
  private byName: ReadonlyMap<string, Scenario> = new Map();
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(options: RegistryOptions) {
    this.options = options;
    this.logger = options.logger;
  }

  get(name: string): Scenario | undefined {
    return this.byName.get(name);
  }

  list(): Scenario[] {
    return [...this.byName.values()];
  }

  /** Files whose latest text was rejected (their previous version, if any, still serves). */
  errors(): ScenarioLoadError[] {
    return this.rejections().map(describe);
  }

  /** The first load: a bad file stops the start-up, as a bad model.yaml does. */
  loadInitial(): void {
    this.reload();
    const first = this.rejections()[0];
    if (first !== undefined) throw first;
  }

  /** Reads the directory again; files whose text did not change are not parsed again. */
  reload(): ReloadResult {
    const before = this.byName;
    const known = this.rejections();
    const next = new Map<string, FileState>();
    for (const name of this.listFiles()) {
      const path = join(this.options.dir, name);
      let text: string;
      try {
        text = readFileSync(path, 'utf8');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
        throw err;
      }
      const kind = OTHER_KIND.exec(text)?.[1];
      if (kind !== undefined && kind !== 'scenario') continue;
      next.set(path, this.load(path, text));
    }
    this.files = next;
    this.index();

    const changed = this.changes(before, this.byName);
    for (const error of this.rejections()) {
      if (!known.some((k) => k.message === error.message)) this.logRejection(error);
    }
    return { changed, errors: this.errors() };
  }

  /** Reloads after changes in the directory settle (fs.watch with a debounce). */
  watch(): void {
    if (this.watcher !== undefined) return;
    this.watcher = watch(this.options.dir, { persistent: false }, () => this.schedule());
    this.watcher.on('error', (err) =>
      this.logger.error({ err, dir: this.options.dir }, 'pipelines directory watch failed'),
    );
  }

  close(): void {
    this.watcher?.close();
    this.watcher = undefined;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      try {
        this.reload();
      } catch (err) {
        this.logger.error({ err, dir: this.options.dir }, 'pipelines directory could not be read');
      }
    }, this.options.debounceMs);
    this.timer.unref();
  }

  private listFiles(): string[] {
    return readdirSync(this.options.dir).filter(isScenarioFile).sort();
  }

  private load(path: string, text: string): FileState {
    const hash = createHash('sha256').update(text).digest('hex');
    const previous = this.files.get(path);
    if (previous?.hash === hash) return previous;
    try {
      return {
        hash,
        text,
        scenario: parseScenario(new YamlFile(path, text), text),
        error: undefined,
      };
    } catch (err) {
      return { hash, text, scenario: previous?.scenario, error: asFreshetError(err, path) };
    }
  }

  private rejections(): FreshetError[] {
    const errors: FreshetError[] = [];
    for (const [path, state] of this.files) {
      const error = state.error ?? this.duplicates.get(path);
      if (error !== undefined) errors.push(error);
    }
    return errors;
  }

  /** Scenarios by name, in file order; a name taken by an earlier file is an error of the later. */
  private index(): void {
    const byName = new Map<string, Scenario>();
    const duplicates = new Map<string, FreshetError>();
    for (const [path, state] of this.files) {
      const scenario = state.scenario;
      if (scenario === undefined) continue;
      const holder = byName.get(scenario.name);
      if (holder === undefined) {
        byName.set(scenario.name, scenario);
      } else {
        const message = `"${scenario.name}" is already declared by ${holder.file}`;
        duplicates.set(path, new YamlFile(path, state.text).error(['name'], message));
      }
    }
    this.byName = byName;
    this.duplicates = duplicates;
  }

  private changes(
    before: ReadonlyMap<string, Scenario>,
    after: ReadonlyMap<string, Scenario>,
  ): string[] {
    const changed: string[] = [];
    for (const [name, scenario] of after) {
      if (before.get(name) === scenario) continue;
      changed.push(name);
      this.logger.info(
        { scenario: name, version: scenario.version, file: scenario.file },
        'scenario loaded',
      );
    }
    for (const name of before.keys()) {
      if (after.has(name)) continue;
      changed.push(name);
      this.logger.info({ scenario: name }, 'scenario removed');
    }
    return changed;
  }

  private logRejection(error: FreshetError): void {
    const { file, line, field } = describe(error);
    this.logger.error(
      { file, line, field, reason: error.message },
      'scenario file rejected; the last good version keeps serving',
    );
  }
}
