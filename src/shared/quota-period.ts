/**
 * Calendar arithmetic of quota periods (UTC), shared by the ingress that
 * enforces quotas and the control plane that reports when they reset.
 */
export type QuotaPeriod = 'hour' | 'day' | 'month';

/** Start of the UTC calendar period containing `ms`. */
export function periodStart(period: QuotaPeriod, ms: number): number {
  const d = new Date(ms);
  switch (period) {
    case 'hour':
      return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate(), d.getUTCHours());
    case 'day':
      return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate());
    case 'month':
      return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
  }
}

/** Start of the next period: when usage resets. */
export function periodEnd(period: QuotaPeriod, ms: number): number {
  const d = new Date(periodStart(period, ms));
  switch (period) {
    case 'hour':
      return d.getTime() + 3_600_000;
    case 'day':
      return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate() + 1);
    case 'month':
      return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
  }
}

/** A stable name for the period containing `ms`, e.g. `hour:2025-03-31T23`, `day:2025-03-31`, `month:2025-03`. */
export function periodKey(period: QuotaPeriod, ms: number): string {
  const iso = new Date(periodStart(period, ms)).toISOString();
  return `${period}:${iso.slice(0, period === 'hour' ? 13 : period === 'day' ? 10 : 7)}`;
}
