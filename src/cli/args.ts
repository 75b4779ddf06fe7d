/** Tiny argument helpers over node:util parseArgs. */
import { parseArgs, type ParseArgsConfig } from 'node:util';

export function parse<T extends NonNullable<ParseArgsConfig['options']>>(argv: string[], options: T) {
  return parseArgs({ args: argv, options, allowPositionals: true, strict: true });
}

export function fail(message: string): never {
  process.stderr.write(`hopgate: ${message}\n`);
  process.exit(2);
}
