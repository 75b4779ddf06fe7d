/** `hopgate ingress --control URL --token-file F [--state-dir D]`: the ingress fed by the config stream. */
import { readFileSync } from 'node:fs';
import { startControlledIngress } from '../processes/controlled-ingress.js';
import { createLogger } from '../shared/log.js';
import { adminFlag, fail, workersFlag } from './args.js';
import { onShutdownSignal } from './signals.js';

export async function controlledIngressCommand(values: {
  control?: string | undefined;
  'token-file'?: string | undefined;
  'state-dir'?: string | undefined;
  workers?: string | undefined;
  admin?: string | undefined;
  'admin-url'?: string | undefined;
}): Promise<void> {
  const url = values.control!;
  if (!/^https?:\/\//.test(url)) fail('--control must be an http:// or https:// URL');
  const workers = workersFlag(values.workers);
  let token = process.env.HOPGATE_INGRESS_TOKEN;
  if (values['token-file']) {
    try {
      token = readFileSync(values['token-file'], 'utf8').trim();
    } catch (err) {
      fail(`--token-file: ${(err as Error).message}`);
    }
  }
  if (!token) fail('ingress --control needs --token-file F (or HOPGATE_INGRESS_TOKEN): POST /v1/ingress-nodes/{id}/token, or `hopgate nodes token ID`');
  let admin: { host: string; port: number } | undefined;
  if (values.admin) {
    const [host, port] = adminFlag(values.admin);
    admin = { host, port };
  }
  const running = await startControlledIngress({
    controlUrl: url,
    token,
    stateDir: values['state-dir'] ?? '.hopgate',
    log: createLogger(process.env.HOPGATE_LOG_LEVEL ?? 'info', { role: 'ingress' }),
    ...(workers !== undefined ? { workers } : {}),
    ...(admin ? { admin } : {}),
    ...(values['admin-url'] ? { adminUrl: values['admin-url'] } : {}),
  });
  process.stdout.write(
    JSON.stringify({ ready: true, ports: running.ports, workers: running.workers, revision: running.revision, bootedFrom: running.bootedFrom, adminUrl: running.adminUrl ?? null }) + '\n',
  );
  onShutdownSignal(() => running.stop());
}
