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
import { fail, parse } from './args.js';
import type { CliOutput } from './output.js';
import { LinkIdentitySource, promoteNextLinkIdentity, readNextLinkIdentity, stageNextLinkIdentity } from '../link/identity.js';

export const LINK_KEY_USAGE = `usage: hopgate link-key <show|next|promote> --dir DIR

  show      this node's link fingerprint, and a staged next one
  next      stage a next key (kept if one is staged) and print its fingerprint
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
      const current = new LinkIdentitySource(dir, 'hopgate node').current().fingerprint;
      const next = readNextLinkIdentity(dir)?.fingerprint ?? null;
      return print({ fingerprint: current, next }, `current ${current}${next ? `\nnext    ${next}` : ''}`);
    }
    case 'next': {
      new LinkIdentitySource(dir, 'hopgate node'); // a current key first: a next one needs something to follow
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
