/**
 * Debian's Chromium driven by playwright-core, for the dashboard's browser tests. Locally the
 * tests skip when /usr/bin/chromium is missing; with CI set they run and fail without it
 * (`.ci/run` installs it).
 */
import { existsSync, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import type { Browser } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';
export const HAS_CHROMIUM = existsSync(CHROMIUM);
/** Skip only on a developer machine without Chromium; in CI a missing browser is a failure. */
export const SKIP_BROWSER = !HAS_CHROMIUM && !process.env['CI'];
export const SKIP_REASON = SKIP_BROWSER
  ? ` [skipped: no ${CHROMIUM}; install Debian's chromium (apt-get install chromium) to run it; with CI set it fails instead]`
  : '';
if (SKIP_BROWSER) console.warn(`dashboard browser tests${SKIP_REASON}`);

/** Where screenshots and figures go (gitignored). */
export const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/', import.meta.url));

export function artifact(name: string): string {
  mkdirSync(ARTIFACTS, { recursive: true });
  return `${ARTIFACTS}${name}`;
}

export function launch(): Promise<Browser> {
  if (!HAS_CHROMIUM) throw new Error(`test: ${CHROMIUM} is missing; .ci/run installs Debian's chromium (apt-get install chromium)`);
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}
