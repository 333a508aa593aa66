// The newsletter from a reader's side: the form in every page's footer,
// the confirmation email's link (a page whose button confirms), the page
// every email links to (choose what one gets), and unsubscribing. The
// emails are read from the server's outbox, as a person opens their inbox.

import { expectNoSeriousViolations } from '../support/axe';
import { expect, test, unique } from '../support/fixtures';
import { emailedLink } from '../support/outbox';
import { OWNER } from '../support/site';

test('a reader subscribes from the footer, confirms, chooses and unsubscribes', async ({ page }, testInfo) => {
  const address = `${unique('reader')}@example.com`;
  await page.goto('/');
  const footer = page.locator('footer');
  await footer.getByLabel('Every new post in your inbox').fill(address);
  await expect(footer.getByText('No tracking')).toBeVisible();
  await footer.getByRole('button', { name: 'Subscribe' }).click();
  await expect(page.getByRole('status')).toContainText('Check your inbox');

  // The link asks first: a mail scanner opening it confirms nothing.
  await page.goto(await emailedLink(address, '/newsletter/confirm/'));
  await expect(page.getByRole('heading', { name: 'Confirm your subscription' })).toBeVisible();
  await expect(page.getByText(address)).toBeVisible();
  await expectNoSeriousViolations(page, testInfo, 'confirm page');
  await page.getByRole('button', { name: 'Yes, subscribe' }).click();
  await expect(page.getByRole('status')).toContainText('Confirmed');

  // The page every email links to: what one gets, without an account.
  await page.getByRole('link', { name: 'Choose what you get' }).click();
  await expect(page.getByRole('heading', { name: 'Your subscription' })).toBeVisible();
  const everything = page.getByLabel(/Every post of/);
  await expect(everything).toBeChecked();
  const owners = page.getByLabel(`${OWNER.username}'s posts`);
  await owners.check();
  await everything.uncheck();
  await expectNoSeriousViolations(page, testInfo, 'manage page');
  await page.getByRole('button', { name: 'Save' }).click();
  await expect(page.getByRole('status')).toHaveText('Saved.');
  await expect(owners).toBeChecked();
  await expect(everything).not.toBeChecked();

  await page.getByRole('button', { name: 'Unsubscribe from everything' }).click();
  await expect(page.getByRole('status')).toContainText('nothing more is sent');
  await expect(page.getByRole('link', { name: 'Choose what you get' })).toBeVisible();
});

test('the form says what to fix, and keeps what was typed', async ({ page }) => {
  await page.goto('/newsletter');
  await page.getByLabel('Email').fill('not an address');
  await page.getByRole('button', { name: 'Subscribe' }).click();
  const field = page.getByLabel('Email');
  await expect(field).toHaveAttribute('aria-invalid', 'true');
  await expect(field).toHaveAccessibleDescription(/is not a valid email address/);
  await expect(field).toHaveValue('not an address');
});
