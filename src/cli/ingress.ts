/** `hopgate ingress --config FILE`: the ingress node from a standalone YAML file. */
import { ConfigError } from '../ingress/config/from-yaml.js';
import { fail, parse } from './args.js';
import { startIngressProcesses } from './ingress-process.js';
import { onShutdownSignal } from './signals.js';

export async function ingressCommand(argv: string[]): Promise<void> {
  const { values } = parse(argv, { config: { type: 'string', short: 'c' }, workers: { type: 'string' } });
  if (!values.config) fail('ingress needs --config FILE (see docs/CONFIGURATION.md)');
  let running;
  try {
    running = await startIngressProcesses(values.config, { workers: values.workers ? Number(values.workers) : undefined });
  } catch (err) {
    if (err instanceof ConfigError) fail(err.message);
    throw err;
  }
  process.stdout.write(JSON.stringify({ ready: true, ports: running.ports, workers: running.workers }) + '\n');
  onShutdownSignal(() => running.stop());
}
