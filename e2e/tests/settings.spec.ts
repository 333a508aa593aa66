// Account settings, and deleting an account. Asking for the `member` fixture
// signs the page in as a new member.

import { expect, mainNav, test } from '../support/fixtures';
import { PASSWORD } from '../support/site';

test('a bio saved in settings shows on the author page', async ({ page, member }) => {
  await page.goto('/');
  await (await mainNav(page)).getByRole('link', { name: 'Settings' }).click();
  await expect(page.getByRole('heading', { name: 'Settings', level: 1 })).toBeVisible();
  await expect(page.getByLabel('Email')).toHaveValue(member.email);

  await page.getByLabel('Bio').fill('I *write* end-to-end tests.');
  await page.getByRole('button', { name: 'Save settings' }).click();
  await expect(page.getByRole('status')).toHaveText('Your settings were saved.');
  await expect(page.getByLabel('Bio')).toHaveValue('I *write* end-to-end tests.');

  await (await mainNav(page)).getByRole('link', { name: member.username, exact: true }).click();
  await expect(page).toHaveURL(`/users/${member.username}`);
  await expect(page.getByText('I write end-to-end tests.')).toBeVisible();
  await expect(page.locator('em', { hasText: 'write' })).toBeVisible();
});

test('deleting the account signs out and leaves the posts under “[deleted]”', async ({ page, member }) => {
  const post = await member.publish();
  await page.goto('/settings');
  await page.getByRole('link', { name: 'Delete my account' }).click();
  await expect(page.getByRole('heading', { name: 'Delete your account?' })).toBeVisible();

  // A wrong password is refused.
  await page.getByLabel('Your password, to confirm').fill('not my password');
  await page.getByRole('button', { name: 'Delete my account' }).click();
  await expect(page.getByLabel('Your password, to confirm')).toHaveAttribute('aria-invalid', 'true');
  await expect((await mainNav(page)).getByRole('button', { name: 'Sign out' })).toBeVisible();

  await page.getByLabel('Your password, to confirm').fill(PASSWORD);
  await page.getByRole('button', { name: 'Delete my account' }).click();
  await expect(page).toHaveURL('/');
  await expect((await mainNav(page)).getByRole('link', { name: 'Sign in' })).toBeVisible();

  // The post stays, by "[deleted]", with no way to the old profile.
  await page.goto(post.url);
  await expect(page.getByRole('heading', { name: post.title, level: 1 })).toBeVisible();
  await expect(page.getByRole('article').getByText('[deleted]')).toBeVisible();
  await expect(page.getByRole('link', { name: member.username, exact: true })).toHaveCount(0);
  expect((await page.goto(`/users/${member.username}`))?.status()).toBe(404);
});
