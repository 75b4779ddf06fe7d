/** The chaos suite's markdown table. */
import type { PhaseFigures } from './measure.js';

const kb = (n: number): string => (n / 1024).toFixed(0);
const s = (ms: number | null): string => (ms === null ? '–' : (ms / 1000).toFixed(1));

export function lostUsage(f: PhaseFigures): string {
  const lost = f.clientDown - f.recordedDown;
  if (lost <= 0) return 'none';
  return `${kb(lost)} KiB (${((100 * lost) / Math.max(1, f.clientDown)).toFixed(1)} %)`;
}

export function chaosTable(db: string, rows: readonly PhaseFigures[]): string {
  const out = [
    `**${db}**`,
    '',
    '| fault | requests | failed | what the clients saw (count) | recovery s | longest gap s | client ↓ KiB | recorded ↓ KiB | usage lost | notes |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const f of rows) {
    const seen = f.seen.slice(0, 4).map(([w, n]) => `${w} (${n})`).join('; ') || '–';
    out.push(`| ${f.fault} | ${f.requests} | ${f.failed} | ${seen} | ${s(f.recoveryMs)} | ${s(f.outageMs)} | ${kb(f.clientDown)} | ${kb(f.recordedDown)} | ${lostUsage(f)} | ${f.notes.join('; ') || ''} |`);
  }
  return out.join('\n');
}
