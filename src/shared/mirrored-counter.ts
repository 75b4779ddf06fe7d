/** Prometheus counters over figures kept as plain numbers elsewhere (the byte path never touches a metric). */
import { Counter, type Registry } from 'prom-client';

/** A counter that reports a cumulative figure kept elsewhere (by label value; '' = no label). */
export function mirroredCounter(registry: Registry, name: string, help: string, label: string | undefined, read: () => Record<string, number>): void {
  const last = new Map<string, number>();
  new Counter({
    name,
    help,
    labelNames: label ? [label] : [],
    registers: [registry],
    collect() {
      for (const [value, total] of Object.entries(read())) {
        const delta = total - (last.get(value) ?? 0);
        if (delta <= 0) continue;
        last.set(value, total);
        if (label) this.inc({ [label]: value }, delta);
        else this.inc(delta);
      }
    },
  });
}
