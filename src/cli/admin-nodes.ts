/** `hopgate nodes add|list|token|delete`: ingress nodes and their config-stream tokens over the control-plane API. */
import { writeFileAtomic } from '../shared/state-file.js';
import type { NodeViewT } from '../control/api-schemas.js';
import { AdminError, COMMON_HELP, COMMON_OPTIONS, adminClient, printJson, table } from './admin-client.js';
import { parse } from './args.js';
import { processOutput, type CliOutput } from './output.js';

export const NODES_USAGE = `usage: hopgate nodes <add|list|token|delete> [ID] [options]

  add ID [--name NAME] [--token-file F]   register an ingress node (and issue its token into F, mode 0600)
  list                                    every node: acknowledged revision, last seen, statistics
  token ID [--token-file F]               issue a new token (the old one stops working); printed, or written to F
  delete ID

  then: hopgate ingress --control URL --token-file F

${COMMON_HELP}`;

export async function nodesCommand(argv: string[], out: CliOutput = processOutput): Promise<void> {
  const { values, positionals } = parse(argv, { ...COMMON_OPTIONS, name: { type: 'string' }, 'token-file': { type: 'string' } });
  const [sub, id] = positionals;
  if (values.help || sub === undefined || sub === 'help') {
    out.stdout(NODES_USAGE);
    return;
  }
  const needId = (): string => {
    if (!id) throw new AdminError(`nodes ${sub}: ID is required`);
    return id;
  };
  const client = adminClient(values.control, values.token, values['state-dir']);
  const issue = async (nodeId: string): Promise<string> => {
    const { token } = await client.request<{ token: string }>('POST', `/v1/ingress-nodes/${encodeURIComponent(nodeId)}/token`);
    if (values['token-file']) writeFileAtomic(values['token-file'], token + '\n'); // a crash never leaves half a token where the ingress reads it
    return token;
  };
  switch (sub) {
    case 'add': {
      const node = await client.request<NodeViewT>('POST', '/v1/ingress-nodes', { id: needId(), name: values.name ?? needId() });
      const token = values['token-file'] ? await issue(node.id) : undefined;
      if (values.json) return printJson(out, { node, ...(token ? { tokenFile: values['token-file'] } : {}) });
      out.stdout(`ingress node ${node.id} registered${token ? `; token in ${values['token-file']}` : ` ('hopgate nodes token ${node.id} --token-file F' issues its token)`}\n`);
      return;
    }
    case 'list': {
      const { nodes } = await client.request<{ nodes: NodeViewT[] }>('GET', '/v1/ingress-nodes');
      if (values.json) return printJson(out, nodes);
      out.stdout(
        nodes.length === 0
          ? 'no ingress nodes\n'
          : table(
              ['ID', 'NAME', 'REVISION', 'LAST SEEN', 'STATS PULLED', 'ADMIN', 'TOKEN'],
              nodes.map((n) => [n.id, n.name, n.ackedRevision === null ? '-' : String(n.ackedRevision), n.lastSeenAt ?? '-', n.statsPulledAt ?? '-', n.adminUrl ?? '-', n.tokenSet ? 'set' : '-']),
            ),
      );
      return;
    }
    case 'token': {
      const token = await issue(needId());
      if (values.json) return printJson(out, values['token-file'] ? { tokenFile: values['token-file'] } : { token });
      out.stdout(values['token-file'] ? `token for ${id} written to ${values['token-file']} (mode 0600)\n` : `${token}\n(shown once: only its hash is stored)\n`);
      return;
    }
    case 'delete': {
      await client.request('DELETE', `/v1/ingress-nodes/${encodeURIComponent(needId())}`);
      if (values.json) return printJson(out, { deleted: id });
      out.stdout(`ingress node ${id} deleted\n`);
      return;
    }
    default:
      throw new AdminError(`nodes: unknown subcommand '${sub}'\n${NODES_USAGE}`);
  }
}
