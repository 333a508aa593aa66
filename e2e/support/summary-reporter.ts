// Ends the output with one plain line, "e2e: N passed, N failed, N skipped",
// which the project's CI reads as a test runner's closing line (Playwright's
// own summary is not in a form it recognises).

import type { FullResult, Reporter, Suite } from '@playwright/test/reporter';

export default class SummaryReporter implements Reporter {
  private suite: Suite | undefined;

  printsToStdio() {
    return true;
  }

  onBegin(_config: unknown, suite: Suite) {
    this.suite = suite;
  }

  onEnd(result: FullResult) {
    const counts = { passed: 0, failed: 0, skipped: 0 };
    for (const test of this.suite?.allTests() ?? []) {
      const outcome = test.outcome();
      // With retries off there are no flaky outcomes; were there any, they
      // passed in the end, as Playwright's exit status says.
      if (outcome === 'expected' || outcome === 'flaky') counts.passed++;
      else if (outcome === 'skipped') counts.skipped++;
      else counts.failed++;
    }
    // A run that stopped early (global setup failed, interrupted) is a failure
    // even if no test failed.
    if (result.status !== 'passed' && counts.failed === 0) counts.failed = 1;
    console.log(`e2e: ${counts.passed} passed, ${counts.failed} failed, ${counts.skipped} skipped`);
  }
}
