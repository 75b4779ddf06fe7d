/**
 * `hopgate link-key show|next|promote --dir D`: this node's link key, on the node
 * itself (the private key never leaves it; the control plane only pins
 * fingerprints). A rotation without a gap (docs/EXITS.md "Link keys"):
 * `next` stages a new key and prints its fingerprint; peers pin it beside the
 * current one (an ingress reports it by itself; an exit's goes in with
 * `hopgate exits link-key ID --next FP`); `promote` makes it the key new links
 * use (a running process takes it within seconds; live links keep theirs);
 * then the old one is retired (`hopgate exits link-key ID --retire`; an
 * ingress's old key leaves the pins when it reports only the new one).
 */
import { join } from 'node:path';
import { CommandFailed, fail, parse } from './args.js';
import type { CliOutput } from './output.js';
import { LINK_IDENTITY_FILE, promoteNextLinkIdentity, readLinkIdentity, readNextLinkIdentity, stageNextLinkIdentity, type LinkIdentity } from '../link/identity.js';

export const LINK_KEY_USAGE = `usage: hopgate link-key <show|next|promote> --dir DIR

  show      this node's link fingerprint, and a staged next one (reads only: no key
            there is an error, exit 1)
  next      stage a next key (kept if one is staged) and print its fingerprint (beside
            the current key only: no key there is an error, exit 1)
  promote   the staged key becomes the one new links present
  --dir     the identity dir: an exit's --state-dir, an ingress's <state-dir>/link
            (hopgate up: .hopgate/ingress-link, .hopgate/exits/ID)
  --json    the fingerprints as JSON
`;

export function linkKeyCommand(argv: string[], out: CliOutput): void {
  const { values, positionals } = parse(argv, { dir: { type: 'string' }, json: { type: 'boolean', default: false } });
  const [sub] = positionals;
  if (!values.dir) fail('link-key: --dir DIR is required');
  const dir = values.dir;
  const print = (o: Record<string, unknown>, text: string): void => out.stdout(values.json ? JSON.stringify(o) + '\n' : text + '\n');
  switch (sub) {
    case 'show': {
      // A read: a key made here would be one no peer pins, and the node's next start would present it.
      const { current, next } = readKeys(dir, 'show');
      if (!current) {
        throw noKey('show', dir, '');
      }
      return print({ fingerprint: current.fingerprint, next: next?.fingerprint ?? null }, `current ${current.fingerprint}${next ? `\nnext    ${next.fingerprint}` : ''}`);
    }
    case 'next': {
      // A next key follows the current one. None on disk (never made, or deleted while the node runs on
      // the key it read): a current key made here would be one no peer pins, presented at the next start.
      if (!readKeys(dir, 'next').current) {
        throw noKey('next', dir, ' to rotate from');
      }
      const next = stageNextLinkIdentity(dir, 'hopgate node').fingerprint;
      return print({ next }, next);
    }
    case 'promote': {
      const now = promoteNextLinkIdentity(dir);
      if (!now) fail(`link-key promote: no next key staged in ${dir} (hopgate link-key next --dir ${dir})`);
      return print({ fingerprint: now.fingerprint }, `promoted: new links present ${now.fingerprint}`);
    }
    default:
      fail(`link-key: show, next or promote\n${LINK_KEY_USAGE}`);
  }
}

/** No current key file: the node makes it at its first start (a node running meanwhile keeps the key it read). */
function noKey(sub: string, dir: string, what: string): CommandFailed {
  return new CommandFailed(
    `link-key ${sub}: no link key in ${join(dir, LINK_IDENTITY_FILE)}${what} (the node makes it at its first start; a node running while it was deleted keeps its key until it restarts, then makes a new one its peers must pin)`,
  );
}

/** The key files as they are (a damaged one is the command's one-line failure, not a stack trace). */
function readKeys(dir: string, sub: string): { current: LinkIdentity | undefined; next: LinkIdentity | undefined } {
  try {
    return { current: readLinkIdentity(dir), next: readNextLinkIdentity(dir) };
  } catch (err) {
    throw new CommandFailed(`link-key ${sub}: ${(err as Error).message}`, { cause: err });
  }
}
