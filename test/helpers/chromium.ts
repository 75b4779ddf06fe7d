/**
 * Real Chromium for browser tests (playwright-core driving Debian's /usr/bin/chromium, or
 * HOPGATE_TEST_CHROMIUM). Where either is missing, the tests skip saying why, instead of failing.
 */
import { existsSync } from 'node:fs';

export const CHROMIUM = process.env.HOPGATE_TEST_CHROMIUM ?? '/usr/bin/chromium';
/** Headless, and without the background networking that this machine's closed network refuses. */
export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

export type Playwright = typeof import('playwright-core');

/** playwright-core, or the reason browser checks are skipped. */
export async function loadPlaywright(): Promise<Playwright | string> {
  if (!existsSync(CHROMIUM)) return `Chromium not found at ${CHROMIUM} (apt-get install -y chromium, or set HOPGATE_TEST_CHROMIUM): browser checks skipped`;
  try {
    return await import('playwright-core');
  } catch (err) {
    return `playwright-core is not installed (npm install): browser checks skipped (${(err as Error).message})`;
  }
}
