/**
 * What every page shares: the notice line, the shown-once secret box, running an action from a
 * button (errors to the notice line, 401 ends the session) and asking for a refresh.
 */
import { ApiError } from './api.js';
import { $ } from './dom.js';

let refreshHook: () => Promise<void> = async () => {};
let logoutHook: (msg?: string) => void = () => {};
export function onShell(refresh: () => Promise<void>, logout: (msg?: string) => void): void {
  refreshHook = refresh;
  logoutHook = logout;
}
export function refresh(): Promise<void> {
  return refreshHook();
}

export function notice(msg: string, isError: boolean): void {
  const n = $('notice');
  n.className = isError ? 'error' : 'ok';
  n.textContent = msg;
}

export function showSecret(label: string, value: string): void {
  $('secret-label').textContent = label;
  $('secret-value').textContent = value;
  $('secret').hidden = false;
}
export function hideSecret(): void {
  $('secret').hidden = true;
  $('secret-value').textContent = '';
}

export function failed(err: unknown): void {
  if (err instanceof ApiError && err.stale) return;
  if (err instanceof ApiError && err.status === 401) {
    logoutHook('The control plane refused the credentials: log in again.');
    return;
  }
  notice(err instanceof Error ? err.message : String(err), true);
}

/** Runs an action (a click, a form), then says `done` and refreshes; never leaves a rejection unowned. */
export function act(fn: () => Promise<unknown>, done?: string): void {
  fn()
    .then(async () => {
      if (done) notice(done, false);
      await refresh();
    })
    .catch(failed);
}

/** A submit handler that runs `fn` as an action (forms never navigate: form-action 'none'). */
export function onSubmit(form: HTMLFormElement, fn: (f: HTMLFormElement) => Promise<unknown>, done?: (f: HTMLFormElement) => string | undefined): void {
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    act(async () => {
      await fn(form);
      const msg = done?.(form);
      if (msg) notice(msg, false);
    });
  });
}

/** Refresh now, from an event handler (errors to the notice line). */
export function kick(): void {
  refreshHook().catch(failed);
}
