import { readFileSync } from 'node:fs';
import { LineCounter, isNode, parseDocument, type Document } from 'yaml';
import { FreshetError } from '../errors.ts';

/** A parsed YAML file that can say on which line a field stands. */
export class YamlFile {
  readonly path: string;
  readonly data: unknown;
  private readonly doc: Document;
  private readonly lines: LineCounter;

  constructor(path: string, text: string) {
    this.path = path;
    this.lines = new LineCounter();
    this.doc = parseDocument(text, { lineCounter: this.lines, prettyErrors: false, uniqueKeys: true });
    const first = this.doc.errors[0];
    if (first !== undefined) {
      // prettyErrors is off, so linePos is not filled in: the line comes from the offset.
      const line = first.linePos?.[0]?.line ?? this.lines.linePos(first.pos[0]).line;
      throw new FreshetError('pipeline_file_invalid', `${path}:${line}: ${first.message.split('\n')[0]}`, {
        context: { file: path, line },
      });
    }
    this.data = this.doc.toJS();
  }

  static read(path: string): YamlFile {
    return new YamlFile(path, readFileSync(path, 'utf8'));
  }

  /** Line of the value at a path such as ["model", "dimensions"]; the nearest existing parent otherwise. */
  lineOf(path: ReadonlyArray<string | number>): number {
    for (let depth = path.length; depth >= 0; depth--) {
      const node = this.doc.getIn(path.slice(0, depth), true);
      if (isNode(node) && node.range) return this.lines.linePos(node.range[0]).line;
    }
    return 1;
  }

  /** An error naming the file, the line and the field. */
  error(path: ReadonlyArray<string | number>, message: string): FreshetError {
    const field = path.join('.');
    const line = this.lineOf(path);
    return new FreshetError('pipeline_file_invalid', `${this.path}:${line}: ${field}: ${message}`, {
      field,
      context: { file: this.path, line },
    });
  }
}
