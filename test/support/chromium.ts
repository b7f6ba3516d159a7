/**
 * Headless Chromium for the dashboard's browser test and its screenshot script: the machine's own browser
 * (Debian's /usr/bin/chromium, or CHROMIUM_PATH) driven by playwright-core, which downloads no browser of its
 * own. Loopback only: the pages it opens are the control plane's on 127.0.0.1.
 */
import { existsSync } from 'node:fs';
import { type Browser, chromium } from 'playwright-core';

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export function chromiumInstalled(): boolean {
  return existsSync(CHROMIUM_PATH);
}

export function launchChromium(): Promise<Browser> {
  // playwright-core runs it without the sandbox (chromiumSandbox: false), which root needs.
  return chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, timeout: 60_000 });
}
