// axe-core on the main pages, in the light and the dark theme: no violation
// of serious or critical impact. Each page is checked three ways: the system
// theme light, the system theme dark, and dark chosen with the header's
// toggle over a light system (the site's CSS has a separate rule set for
// each way to dark, so both are checked). Asking for the `member` fixture
// signs the page in as a new member.

import type { Page } from '@playwright/test';

import { expectNoSeriousViolations } from '../support/axe';
import { expect, fillSignIn, Person, test, unique } from '../support/fixtures';
import { OWNER, OWNER_POST } from '../support/site';

// Buttons fade their colours on theme changes; with reduced motion the site
// turns transitions off, so axe never measures contrast mid-fade.
test.use({ reducedMotion: 'reduce' });

async function checkThemes(page: Page, label: string) {
  const toggle = page.getByRole('button', { name: 'Dark theme' });
  // The system's theme decides until a choice is made; a test that checks
  // several pages forgets the choice made on the last one.
  const chosen = await page.evaluate(() => localStorage.getItem('quire-theme') !== null);
  if (chosen) {
    await page.evaluate(() => localStorage.removeItem('quire-theme'));
    await page.reload();
  }

  await page.emulateMedia({ colorScheme: 'light' });
  await expect(toggle).toHaveAttribute('aria-pressed', 'false');
  await expectNoSeriousViolations(page, test.info(), `${label}, light`);

  await page.emulateMedia({ colorScheme: 'dark' });
  await expect(toggle).toHaveAttribute('aria-pressed', 'true');
  await expectNoSeriousViolations(page, test.info(), `${label}, dark (system)`);

  await page.emulateMedia({ colorScheme: 'light' });
  await toggle.click();
  await expect(toggle).toHaveAttribute('aria-pressed', 'true');
  // Do not leave the pointer hovering the toggle: hover styles are not what
  // is being checked.
  await page.mouse.move(0, 0);
  await expectNoSeriousViolations(page, test.info(), `${label}, dark (toggle)`);
}

test('home page', async ({ page }) => {
  await page.goto('/');
  await expect(page.getByRole('link', { name: OWNER_POST.title })).toBeVisible();
  await checkThemes(page, 'home');
});

test('post page, signed in, with a comment', async ({ page, member, someoneElse }) => {
  const post = await someoneElse.publish({
    description: 'Rich content',
    body: '# A section\n\nText with `code`, a [link](https://example.com) and a table:\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n```\nfn main() {}\n```\n\n> A quote.',
    tags: 'accessibility',
  });
  await someoneElse.submit(`${post.url}/comments`, { body: 'A *comment*.' }, post.url);
  await page.goto(post.url);
  await expect(page.getByRole('heading', { name: '1 comment' })).toBeVisible();
  await checkThemes(page, 'post');
});

test('editor with a rendered preview', async ({ page, member }) => {
  await page.goto('/editor');
  await page.getByLabel('Title').fill('Checking the editor');
  await page.getByLabel('Body').fill('# Heading\n\nSome **bold** text and `code`.');
  // The preview is beside the text on desktop and behind a toggle on mobile.
  const show = page.getByRole('button', { name: 'Show preview' });
  if (await show.isVisible()) await show.click();
  await expect(page.getByRole('region', { name: 'Preview' }).locator('strong')).toHaveText('bold');
  await checkThemes(page, 'editor');
});

test('sign-in page', async ({ page }) => {
  await page.goto('/login');
  await expect(page.getByRole('heading', { name: 'Sign in' })).toBeVisible();
  await checkThemes(page, 'sign-in');
});

test('settings page', async ({ page, member }) => {
  await page.goto('/settings');
  await expect(page.getByRole('heading', { name: 'Settings', level: 1 })).toBeVisible();
  await checkThemes(page, 'settings');
});

test('a standalone page, and the owner’s list of pages', async ({ page }) => {
  await page.goto('/login');
  await fillSignIn(page, OWNER.username, OWNER.password);
  await expect(page).toHaveURL(/\/$/);
  const title = unique('Colophon');
  const owner = new Person(page.request, OWNER.username);
  const address = await owner.submit('/admin/pages/new', { title, slug: '', body: 'Set in **system fonts**.', action: 'save' });
  await page.goto('/admin/pages');
  const id = (await page.getByRole('row', { name: title }).getAttribute('id'))?.replace('page-', '');
  try {
    await expect(page.getByRole('heading', { name: 'Pages', level: 1 })).toBeVisible();
    await checkThemes(page, 'pages');
    await page.goto(`/admin/pages/${id}/edit`);
    await expect(page.getByRole('textbox', { name: /^Title/ })).toHaveValue(title);
    await checkThemes(page, 'page editor');
    await page.goto(address);
    await expect(page.getByRole('heading', { name: title, level: 1 })).toBeVisible();
    await checkThemes(page, 'page');
  } finally {
    // Pages are in every page's navigation: the other specs need not see it.
    await owner.submit(`/admin/pages/${id}/delete`, {});
  }
});
