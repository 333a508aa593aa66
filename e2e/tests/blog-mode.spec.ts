// Blog mode: the home page is the owner's blog; members also get "Everyone".

import { expect, mainNav, test } from '../support/fixtures';
import { OWNER, OWNER_POST } from '../support/site';

test('anonymous visitors see only the owner’s posts on the home page', async ({ page, someoneElse }) => {
  const members = await someoneElse.publish();
  await page.goto('/');

  const owners = page.getByRole('article').filter({ has: page.getByRole('link', { name: OWNER_POST.title }) });
  await expect(owners).toBeVisible();
  await expect(owners.getByRole('link', { name: OWNER.username, exact: true })).toBeVisible();
  await expect(page.getByRole('link', { name: members.title })).toHaveCount(0);
  // Every card on the page is the owner's.
  for (const card of await page.getByRole('article').all()) {
    await expect(card.getByRole('link', { name: OWNER.username, exact: true })).toBeVisible();
  }
  // No tabs for visitors, and asking for the other view changes nothing.
  await expect(page.getByRole('link', { name: 'Everyone' })).toHaveCount(0);
  await page.goto('/?view=everyone');
  await expect(page.getByRole('link', { name: members.title })).toHaveCount(0);

  // The member's post is public all the same, on its own page.
  await page.goto(members.url);
  await expect(page.getByRole('heading', { name: members.title, level: 1 })).toBeVisible();
});

test('signed-in members see everyone’s posts under “Everyone”', async ({ page, member, someoneElse }) => {
  const others = await someoneElse.publish();
  await page.goto('/');
  await expect((await mainNav(page)).getByRole('link', { name: member.username, exact: true })).toBeVisible();
  // A phone's open menu lies over the page: start again with it closed.
  await page.goto('/');

  const tabs = page.getByRole('navigation', { name: 'Whose posts' });
  await expect(tabs.getByRole('link', { name: 'Blog' })).toHaveAttribute('aria-current', 'page');
  await expect(page.getByRole('link', { name: OWNER_POST.title })).toBeVisible();
  await expect(page.getByRole('link', { name: others.title })).toHaveCount(0);

  await tabs.getByRole('link', { name: 'Everyone' }).click();
  await expect(page).toHaveURL('/?view=everyone');
  await expect(tabs.getByRole('link', { name: 'Everyone' })).toHaveAttribute('aria-current', 'page');
  const card = page.getByRole('article').filter({ has: page.getByRole('link', { name: others.title }) });
  await expect(card.getByRole('link', { name: someoneElse.username, exact: true })).toBeVisible();
});
