/**
 * The reverse side starts with the first configuration that needs it: at boot,
 * or in a reload — an ingress fed by the control plane may get its first
 * reverse exit in a delta. At boot a failure throws (as any taken port does);
 * later it is logged and the rest of the configuration applies all the same,
 * and the next configuration that needs it tries again.
 */
import type { Logger } from '../../shared/log.js';
import type { IngressConfig } from '../../shared/schema/ingress-config.js';
import { tunnelListen, usesReverse } from '../../shared/schema/check-reverse-config.js';

export class LateStart<T extends { close(): void }> {
  /** What was started (undefined before, or while starting). */
  value: T | undefined;
  private starting: Promise<void> | undefined;
  private listen: { host: string; port: number } | undefined;
  private closed = false;

  /** `holdsTunnel`: this process listens on `reverse.listen`, so a change there needs a restart. */
  constructor(
    private readonly open: (config: IngressConfig) => Promise<T>,
    private readonly log: Pick<Logger, 'warn' | 'error'>,
    private readonly what: string,
    private readonly holdsTunnel: boolean,
  ) {}

  /** Follow a configuration now in force; resolves once started (or failed, logged, after boot). */
  follow(config: IngressConfig, boot = false): Promise<void> {
    if (this.closed || !usesReverse(config)) return Promise.resolve();
    const listen = tunnelListen(config);
    if (this.value || this.starting) {
      const was = this.listen;
      if (this.holdsTunnel && was && (was.host !== listen.host || was.port !== listen.port)) {
        this.log.warn({ from: was, to: listen }, 'reverse.listen changes take effect on restart');
      }
      return this.starting ?? Promise.resolve();
    }
    const started = this.open(config).then((v) => {
      if (this.closed) return v.close(); // shut down meanwhile
      this.value = v;
      this.listen = listen;
    });
    const settled = boot
      ? started
      : started.catch((err: Error) => {
          this.log.error({ err: err.message }, `${this.what} could not start; the rest of the configuration is applied`);
        });
    this.starting = settled.finally(() => (this.starting = undefined));
    return this.starting;
  }

  /** Close what was started, and what is still starting once it has. */
  close(): void {
    this.closed = true;
    this.value?.close();
  }
}
