// Search from the header, as a reader without JavaScript needs nothing
// more than the form: results, the matching words marked, axe clean.

import { expectNoSeriousViolations } from '../support/axe';
import { expect, test } from '../support/fixtures';

test('the header searches the posts and marks what matched', async ({ page, member }) => {
  const word = `zebra${Date.now().toString(36)}`;
  const post = await member.publish({
    title: `Stripes and ${word}`,
    body: `The ${word} runs across the plain, and nobody else does.`,
  });

  await page.goto('/');
  const box = page.getByRole('searchbox', { name: 'Search posts' });
  await box.fill(word);
  await box.press('Enter');

  await expect(page).toHaveURL(new RegExp(`/search\\?q=${word}$`));
  await expect(page.getByRole('status')).toContainText('1 post found');
  await expect(page.getByRole('link', { name: post.title })).toBeVisible();
  await expect(page.locator('.snippet mark').first()).toHaveText(word);
  await expectNoSeriousViolations(page, test.info(), 'search results');

  // Nothing typed is an error.
  for (const odd of ['"', 'NEAR(', '-', '(((']) {
    const response = await page.goto(`/search?q=${encodeURIComponent(odd)}`);
    expect(response?.status()).toBe(200);
  }
});
