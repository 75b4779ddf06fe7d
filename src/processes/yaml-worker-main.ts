/**
 * Entry of a worker process of `hopgate ingress --config F --workers N`
 * (forked by ingress-workers.ts; argv[2] is the file): runs the ingress,
 * says ready, reloads when told, drains on SIGTERM. SIGINT is the primary's
 * to decide (a terminal's Ctrl-C reaches the whole process group).
 */
import { loadIngressYaml } from '../ingress/config/from-yaml.js';
import { createLogger } from '../shared/log.js';
import { startYamlIngress } from './yaml-ingress.js';
import { onPrimary, toPrimary } from './worker-channel.js';

async function main(configPath: string): Promise<void> {
  const config = loadIngressYaml(configPath);
  const log = createLogger(config.log.level, { role: 'ingress' });
  const running = await startYamlIngress(configPath, log, true);
  onPrimary((m) => {
    if (m.type === 'hopgate:config:reload') running.reload();
  });
  toPrimary({ type: 'hopgate:worker:ready', ports: running.ingress.ports() });
  process.once('SIGTERM', () => {
    running.ingress.shutdown().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err: String(err) }, 'ingress worker shutdown failed');
        process.exit(1);
      },
    );
  });
  process.once('SIGINT', () => undefined);
}

main(process.argv[2] ?? '').catch((err: unknown) => {
  // Its configuration unreadable, or a port refused: tell the primary, then leave.
  toPrimary({ type: 'hopgate:worker:failed', error: err instanceof Error ? err.message : String(err) }, () => process.exit(1));
});
