/**
 * `hopgate <command>` without the process around it: help, the command table,
 * and one line for a usage error. main.ts is the process (exit codes, fatal
 * errors); cli-help.test.ts runs every command's help through this in-process.
 */
import { COMMANDS, USAGE, asksForHelp } from './commands.js';
import { CommandFailed, UsageError } from './args.js';
import { processOutput, type CliOutput } from './output.js';

export type { CliOutput } from './output.js';

/**
 * Run argv. Resolves with an exit status for what ends here (help: 0, a usage
 * error: 2, a command's refusal such as an admin request the API answered with
 * an error: 1), or with undefined once a command's run resolved (a server keeps
 * the process alive by its own handles). Any other error rejects.
 */
export async function dispatch(argv: readonly string[], out: CliOutput = processOutput): Promise<number | undefined> {
  try {
    return await dispatchOrThrow(argv, out);
  } catch (err) {
    if (!(err instanceof UsageError) && !(err instanceof CommandFailed)) throw err;
    out.stderr(`hopgate: ${err.message}\n`);
    return err instanceof UsageError ? 2 : 1;
  }
}

async function dispatchOrThrow(argv: readonly string[], out: CliOutput): Promise<number | undefined> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h') {
    out.stdout(USAGE);
    return 0;
  }
  if (name === 'help') {
    const about = rest[0] === undefined ? undefined : COMMANDS.find((c) => c.name === rest[0]);
    if (rest[0] !== undefined && !about) throw new UsageError(`help: unknown command '${rest[0]}' (commands: ${COMMANDS.map((c) => c.name).join(', ')})`);
    out.stdout(about ? await about.usage(rest.slice(1)) : USAGE);
    return 0;
  }
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) {
    out.stderr(`hopgate: unknown command '${name}'\n${USAGE}`);
    return 2;
  }
  // Before the command parses its options: `--help` is not an unknown option, nor a password to hash.
  if (asksForHelp(rest)) {
    out.stdout(await command.usage(rest));
    return 0;
  }
  await command.run(rest, out);
  return undefined;
}
