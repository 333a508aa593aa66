// The site's error pages.

import { expect, mainNav, test } from '../support/fixtures';

test('an unknown address gets the 404 page in the site’s look', async ({ page }) => {
  for (const path of ['/no/such/page', '/posts/no-such-post', '/users/nobody-by-that-name', '/tags/no-such-tag']) {
    const response = await page.goto(path);
    expect(response?.status(), path).toBe(404);
    await expect(page.getByRole('heading', { name: 'Page not found', level: 1 })).toBeVisible();
    await expect(await mainNav(page)).toBeVisible();
    await expect(page).toHaveTitle(/404/);
  }
  await page.getByRole('link', { name: 'Back to the home page' }).click();
  await expect(page).toHaveURL('/');
});
