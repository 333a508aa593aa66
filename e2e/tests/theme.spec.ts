// The light/dark theme switch in the header.

import type { Page } from '@playwright/test';

import { expect, mainNav, test } from '../support/fixtures';

const themeToggle = (page: Page) => page.getByRole('button', { name: 'Dark theme' });

/** The page's background colour, as painted. */
const background = (page: Page) => page.evaluate(() => getComputedStyle(document.body).backgroundColor);

test.describe('with a light system theme', () => {
  test.use({ colorScheme: 'light' });

  test('the choice of dark persists across pages and reloads', async ({ page }) => {
    await page.goto('/');
    await expect(themeToggle(page)).toHaveAttribute('aria-pressed', 'false');
    const light = await background(page);

    await themeToggle(page).click();
    await expect(themeToggle(page)).toHaveAttribute('aria-pressed', 'true');
    const dark = await background(page);
    expect(dark).not.toBe(light);

    // Another page, then a reload: still dark.
    await (await mainNav(page)).getByRole('link', { name: 'Register' }).click();
    await expect(page.getByRole('heading', { name: 'Register' })).toBeVisible();
    await expect(themeToggle(page)).toHaveAttribute('aria-pressed', 'true');
    expect(await background(page)).toBe(dark);
    await page.reload();
    await expect(themeToggle(page)).toHaveAttribute('aria-pressed', 'true');
    expect(await background(page)).toBe(dark);

    // And back to light, which persists too.
    await themeToggle(page).click();
    await expect(themeToggle(page)).toHaveAttribute('aria-pressed', 'false');
    await page.reload();
    await expect(themeToggle(page)).toHaveAttribute('aria-pressed', 'false');
    expect(await background(page)).toBe(light);
  });
});

test.describe('with a dark system theme', () => {
  test.use({ colorScheme: 'dark' });

  test('the site starts dark, and choosing light persists', async ({ page }) => {
    await page.goto('/');
    await expect(themeToggle(page)).toHaveAttribute('aria-pressed', 'true');
    const dark = await background(page);

    await themeToggle(page).click();
    await expect(themeToggle(page)).toHaveAttribute('aria-pressed', 'false');
    const light = await background(page);
    expect(light).not.toBe(dark);

    await page.goto('/login');
    await expect(themeToggle(page)).toHaveAttribute('aria-pressed', 'false');
    expect(await background(page)).toBe(light);
  });
});
