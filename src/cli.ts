#!/usr/bin/env node
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { FreshetError } from './errors.ts';

/** A sub-command: parses its own options from the arguments after its name. */
export interface Command {
  summary: string;
  options: NonNullable<ParseArgsConfig['options']>;
  usage: string;
  run(values: Record<string, string | boolean | string[] | boolean[] | undefined>, positionals: string[]): Promise<number>;
}

const COMMANDS: Record<string, () => Promise<Command>> = {
  run: async () => (await import('./commands/run.ts')).command,
  replay: async () => (await import('./commands/replay.ts')).command,
  evaluate: async () => (await import('./commands/evaluate.ts')).command,
  'simulate-push': async () => (await import('./commands/simulate-push.ts')).command,
};

function usage(): string {
  return ['usage: freshet <command> [options]', '', 'commands:', ...Object.keys(COMMANDS).map((c) => `  ${c}`), '', 'freshet <command> --help shows its options'].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h') {
    process.stdout.write(usage() + '\n');
    return name === undefined ? 2 : 0;
  }
  const load = COMMANDS[name];
  if (load === undefined) {
    process.stderr.write(`freshet: unknown command "${name}"\n${usage()}\n`);
    return 2;
  }
  const command = await load();
  let parsed;
  try {
    parsed = parseArgs({ args: rest, options: { ...command.options, help: { type: 'boolean', short: 'h' } }, allowPositionals: true, strict: true });
  } catch (err) {
    process.stderr.write(`freshet ${name}: ${(err as Error).message}\n${command.usage}\n`);
    return 2;
  }
  if (parsed.values.help === true) {
    process.stdout.write(`${command.summary}\n\n${command.usage}\n`);
    return 0;
  }
  try {
    return await command.run(parsed.values, parsed.positionals);
  } catch (err) {
    if (err instanceof FreshetError) {
      process.stderr.write(`freshet ${name}: ${err.message} (${err.code}${err.field ? `, field ${err.field}` : ''})\n`);
      return 1;
    }
    throw err;
  }
}

if (import.meta.main) {
  process.exitCode = await main(process.argv.slice(2));
}
