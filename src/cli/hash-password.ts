/** `hopgate hash-password [PASSWORD]`: a `$scrypt$…` hash for a configuration file. */
import { fail, parse } from './args.js';

export async function hashPasswordCommand(argv: string[]): Promise<void> {
  // Parsed like every command: an unknown option is an error, not a password to hash
  // (a password that starts with '-' goes after `--`).
  const { positionals } = parse(argv, {});
  if (positionals.length > 1) fail('hash-password takes one PASSWORD (or none: it is read from stdin)');
  const pw = positionals[0] ?? (await readStdin()).replace(/\r?\n$/, '');
  if (!pw) fail('hash-password: empty password (give it as the argument or on stdin)');
  const { hashPassword } = await import('../shared/auth/password-hash.js');
  process.stdout.write((await hashPassword(pw)) + '\n');
}

async function readStdin(): Promise<string> {
  let s = '';
  for await (const chunk of process.stdin) s += chunk;
  return s;
}
