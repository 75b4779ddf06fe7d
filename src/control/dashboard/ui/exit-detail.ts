/**
 * One exit (operator, #exit/<id>): what it is, edit its address, credentials, place, tags and
 * drain flag; a reverse exit's token (issued anew, shown once); its health history (health-panel.ts)
 * and its usage over a chosen range.
 */
import { api, enc } from './api.js';
import type { Exit, ExitPatch, ExitToken } from './api-types.js';
import { $, badge, button, field, render, stats } from './dom.js';
import { ago, list, placeText, splitList } from './format.js';
import { address, deleteExit } from './exits.js';
import { act, onSubmit, showSecret } from './shell.js';
import { usagePanel } from './usage-panel.js';
import { healthPanel } from './health-panel.js';

let shown: Exit | null = null;

function fillForm(x: Exit): void {
  const f = $<HTMLFormElement>('exit-edit-form');
  for (const p of f.querySelectorAll<HTMLElement>('.forward-only')) p.hidden = x.kind === 'reverse';
  field(f, 'host').value = x.host ?? '';
  field(f, 'port').value = x.port === null ? '' : String(x.port);
  field(f, 'username').value = x.username ?? '';
  field(f, 'password').value = '';
  field(f, 'country').value = x.country ?? '';
  field(f, 'city').value = x.city ?? '';
  field(f, 'egressIp').value = x.egressIp ?? '';
  field(f, 'tags').value = x.tags.join(', ');
  field(f, 'drain').checked = x.drain;
}

function patchOf(f: HTMLFormElement, x: Exit): ExitPatch {
  const v = (name: string): string => field(f, name).value.trim();
  const orNull = (name: string): string | null => (v(name) === '' ? null : v(name));
  const p: ExitPatch = { country: orNull('country')?.toLowerCase() ?? null, city: orNull('city'), egressIp: orNull('egressIp'), tags: splitList(v('tags')), drain: field(f, 'drain').checked };
  if (x.kind !== 'reverse') {
    p.host = v('host');
    p.port = Number(v('port'));
    p.username = orNull('username');
    if (v('password') !== '') p.password = v('password'); // empty: keep the stored one (write-only)
  }
  return p;
}

export function initExitDetail(): void {
  onSubmit(
    $<HTMLFormElement>('exit-edit-form'),
    async (f) => {
      if (!shown) return;
      const x = await api<Exit>('PATCH', `/v1/exits/${enc(shown.id)}`, patchOf(f, shown));
      shown = x;
      fillForm(x);
    },
    () => 'Exit saved',
  );
}

export async function exitDetailPage(id: string): Promise<void> {
  const x = await api<Exit>('GET', `/v1/exits/${enc(id)}`);
  if (shown?.id !== id) fillForm(x);
  shown = x;
  $('exit-title').textContent = x.id;
  render('exit-profile', x, () =>
    stats([
      ['Kind', x.kind],
      ['Address', address(x)],
      ['Username', x.username ?? '–'],
      ['Password', x.passwordSet ? 'set' : 'none'],
      ['Egress IP', [x.egressIp, x.egressIp6].filter(Boolean).join(' ') || '–'],
      ['Place', placeText(x)],
      ['Tags', list(x.tags)],
      ['Customers listing it', String(x.customers)],
      ['State', x.drain ? badge('drained', 'warn') : badge('active', 'good')],
      ...(x.reverse
        ? ([
            ['Token', x.reverse.tokenSet ? `issued ${ago(x.reverse.tokenChangedAt)}` : 'none'],
            ['Registers from', list(x.reverse.from) === '–' ? 'anywhere' : list(x.reverse.from)],
          ] as [string, string][])
        : []),
    ]),
  );
  render('exit-actions', [x.id, x.kind], () => {
    const box = document.createDocumentFragment();
    if (x.kind === 'reverse')
      box.append(
        button(x.reverse?.tokenSet ? 'Rotate token' : 'Issue token', () => {
          if (x.reverse?.tokenSet && !confirm(`Replace the token of ${x.id}? The exit must restart with the new one.`)) return;
          act(async () => {
            const t = await api<ExitToken>('POST', `/v1/exits/${enc(x.id)}/token`);
            showSecret(`Token for reverse exit ${x.id}:`, t.token);
          });
        }, { 'data-action': 'token' }),
      );
    box.append(button('Delete', () => deleteExit(x), { 'data-action': 'delete', class: 'danger' }));
    return box;
  });
  await Promise.all([healthPanel(id), usagePanel('exit', { exit: id }, 'login')]);
}
