// Runs axe-core in the page. axe-core is injected directly rather than
// through @axe-core/playwright, whose current release requires Node 22 while
// the machines here have Debian's Node 20; the pages have no frames, so
// injecting into the main frame is all that wrapper would do for us.

import fs from 'node:fs';

import { expect, type Page, type TestInfo } from '@playwright/test';
import type { AxeResults, Result } from 'axe-core';

const AXE_SOURCE = require.resolve('axe-core/axe.min.js');

/** The WCAG 2.x A and AA rules, and axe's best practices. */
const TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice'];

export async function runAxe(page: Page): Promise<AxeResults> {
  // Evaluated through the browser's debugging protocol rather than added
  // as a <script>: the site's Content-Security-Policy (rightly) refuses
  // inline scripts, and the fixtures fail a test on any violation.
  await page.evaluate(fs.readFileSync(AXE_SOURCE, 'utf8'));
  return page.evaluate(
    (tags) => (window as unknown as { axe: typeof import('axe-core') }).axe.run(document, { runOnly: { type: 'tag', values: tags } }),
    TAGS,
  );
}

/** One line per violation and node, for a readable failure message. */
export function formatViolations(violations: Result[]): string {
  return violations
    .flatMap((v) => v.nodes.map((n) => `[${v.impact}] ${v.id}: ${v.help}\n    at ${n.target.join(' ')}\n    ${n.failureSummary?.replace(/\n/g, '\n    ')}`))
    .join('\n');
}

/** Checks the page; serious and critical violations fail the test, lesser
 * ones are attached to the report so they can be seen and triaged. */
export async function expectNoSeriousViolations(page: Page, testInfo: TestInfo, label: string) {
  const results = await runAxe(page);
  const serious = results.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  const minor = results.violations.filter((v) => !serious.includes(v));
  if (minor.length > 0) {
    await testInfo.attach(`axe minor/moderate: ${label}`, { body: formatViolations(minor), contentType: 'text/plain' });
  }
  expect.soft(formatViolations(serious), `serious or critical axe violations on ${label}`).toBe('');
}
