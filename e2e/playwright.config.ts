import { defineConfig } from '@playwright/test';

import { BASE_URL_ENV } from './support/site';

// Debian's Chromium (apt-get install chromium): Playwright never downloads a
// browser here (npm ci runs with PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1).
const CHROMIUM = process.env.QUIRE_E2E_CHROMIUM ?? '/usr/bin/chromium';

export default defineConfig({
  testDir: './tests',
  outputDir: './artifacts/results',
  // Starts the server, seeds the owner; the function it returns stops it.
  globalSetup: require.resolve('./support/global-setup'),

  // Every spec shares one server and database: specs make their own uniquely
  // named accounts and never depend on each other's data, so files run in
  // parallel. Two workers suit the 2-core machines: measured while a cargo
  // build ran beside it, the suite took 3.4 min on one worker, 2.5 min on
  // two and 2.7 min on three.
  fullyParallel: true,
  workers: 2,
  // Flakiness must show, not be retried away.
  retries: 0,
  forbidOnly: !!process.env.CI,
  timeout: 30_000,
  expect: { timeout: 10_000 },
  reporter: [
    ['list'],
    ['html', { outputFolder: './artifacts/report', open: 'never' }],
    ['./support/summary-reporter.ts'],
  ],

  use: {
    // Set by global setup before the workers start.
    baseURL: process.env[BASE_URL_ENV],
    launchOptions: {
      executablePath: CHROMIUM,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--disable-quic',
        '--no-first-run',
      ],
    },
    screenshot: 'only-on-failure',
    trace: 'retain-on-failure',
    // The site's own confirm() on inline delete forms is accepted by the
    // specs that expect it; any other dialog is dismissed by Playwright.
  },

  projects: [
    {
      name: 'desktop',
      use: { browserName: 'chromium', viewport: { width: 1280, height: 800 } },
    },
    {
      name: 'mobile',
      use: {
        browserName: 'chromium',
        viewport: { width: 390, height: 844 },
        deviceScaleFactor: 2,
        isMobile: true,
        hasTouch: true,
      },
    },
  ],
});
