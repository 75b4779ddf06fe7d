/** Usage (operator): everything, per customer or per exit, over a chosen range. */
import { $ } from './dom.js';
import { usagePanel } from './usage-panel.js';

export async function usagePage(): Promise<void> {
  const group = $<HTMLSelectElement>('usage-group').value === 'exitId' ? 'exitId' : 'login';
  await usagePanel('usage', {}, group);
}
