/** `hopgate ingress --config FILE`: the ingress node from a standalone YAML file. */
import { ConfigError } from '../ingress/config/from-yaml.js';
import { fail, parse, workersFlag } from './args.js';
import { startIngressProcesses } from '../processes/ingress-workers.js';
import { onShutdownSignal } from './signals.js';

export async function ingressCommand(argv: string[]): Promise<void> {
  const { values } = parse(argv, {
    config: { type: 'string', short: 'c' },
    workers: { type: 'string' },
    // From the control plane instead of a file (docs/CONTROL.md, "Config stream").
    control: { type: 'string' },
    'token-file': { type: 'string' },
    'state-dir': { type: 'string' },
    admin: { type: 'string' },
    'admin-url': { type: 'string' },
  });
  if (values.control !== undefined) {
    if (values.config) fail('ingress takes --config FILE or --control URL, not both');
    return (await import('./ingress-control.js')).controlledIngressCommand(values);
  }
  if (!values.config) fail('ingress needs --config FILE (see docs/CONFIGURATION.md), or --control URL --token-file F (docs/CONTROL.md)');
  let running;
  try {
    running = await startIngressProcesses(values.config, { workers: workersFlag(values.workers) });
  } catch (err) {
    if (err instanceof ConfigError) fail(err.message);
    // A file that is not there or not readable is the operator's to fix: one line, not a stack trace.
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') fail(`cannot read ${values.config}: no such file`);
    if (code === 'EACCES' || code === 'EISDIR') fail(`cannot read ${values.config}: ${code === 'EACCES' ? 'permission denied' : 'is a directory'}`);
    throw err;
  }
  process.stdout.write(JSON.stringify({ ready: true, ports: running.ports, workers: running.workers }) + '\n');
  onShutdownSignal(() => running.stop());
}
