// Writing, previewing, publishing, editing and deleting posts. Asking for
// the `member` fixture signs the page in as a new member.

import type { Page } from '@playwright/test';

import { expect, test, unique } from '../support/fixtures';

/** The editor's preview pane (a region labelled by its "Preview" heading). */
const previewPane = (page: Page) => page.getByRole('region', { name: 'Preview' });

/** Fills the editor the page is on. */
async function fillEditor(page: Page, post: { title: string; body: string; tags?: string; description?: string }) {
  await page.getByLabel('Title').fill(post.title);
  if (post.description !== undefined) await page.getByLabel('Description').fill(post.description);
  await page.getByLabel('Body').fill(post.body);
  if (post.tags !== undefined) await page.getByLabel('Tags').fill(post.tags);
}

test.describe('the editor preview', () => {
  test('desktop: a live preview beside the text follows the typing', async ({ page, member, isMobile }) => {
    test.skip(isMobile, 'the side-by-side preview is for wide screens');
    await page.goto('/');
    await page.getByRole('link', { name: 'New post' }).click();
    await expect(page.getByRole('heading', { name: 'New post', level: 1 })).toBeVisible();

    const body = page.getByLabel('Body');
    const preview = previewPane(page);
    await expect(preview).toBeVisible();
    await body.fill('# Big idea\n\nSome **bold** words.');
    await expect(preview.getByRole('heading', { name: 'Big idea' })).toBeVisible();
    await expect(preview.locator('strong')).toHaveText('bold');

    // Typing more updates it, with no button pressed.
    await body.press('End');
    await body.pressSequentially('\n\n- first item\n- second item');
    await expect(preview.getByRole('listitem')).toHaveText(['first item', 'second item']);

    // Side by side: the preview sits to the right of the text, level with it.
    const textBox = (await body.boundingBox())!;
    const previewBox = (await preview.boundingBox())!;
    expect(previewBox.x).toBeGreaterThanOrEqual(textBox.x + textBox.width);
    expect(Math.abs(previewBox.y - textBox.y)).toBeLessThan(textBox.height);
    // Nothing to toggle here, only a manual refresh.
    await expect(page.getByRole('button', { name: 'Refresh preview' })).toBeVisible();
    await expect(page.getByRole('button', { name: 'Show preview' })).toHaveCount(0);
  });

  test('mobile: the preview is shown and hidden with a toggle', async ({ page, member, isMobile }) => {
    test.skip(!isMobile, 'the preview toggle is for narrow screens');
    await page.goto('/editor');
    const preview = previewPane(page);
    const toggle = page.getByRole('button', { name: 'Show preview' });
    await expect(toggle).toHaveAttribute('aria-expanded', 'false');
    await expect(preview).toBeHidden();

    await page.getByLabel('Body').fill('A *small* screen');
    await toggle.click();
    const hide = page.getByRole('button', { name: 'Hide preview' });
    await expect(hide).toHaveAttribute('aria-expanded', 'true');
    await expect(preview).toBeVisible();
    await expect(preview.locator('em')).toHaveText('small');

    // Below the text, not beside it.
    const textBox = (await page.getByLabel('Body').boundingBox())!;
    const previewBox = (await preview.boundingBox())!;
    expect(previewBox.y).toBeGreaterThanOrEqual(textBox.y + textBox.height);

    await hide.click();
    await expect(preview).toBeHidden();
    await expect(page.getByRole('button', { name: 'Show preview' })).toHaveAttribute('aria-expanded', 'false');
  });
});

test('publishes a post that shows on the lists, its tag page and its author page', async ({ page, member }) => {
  const title = unique('Notes on testing');
  const tag = unique('tag');
  await page.goto('/editor');
  await fillEditor(page, {
    title,
    description: 'What a browser sees.',
    body: '## Why\n\nBecause **browsers** matter.\n\n```\ncode block\n```',
    tags: tag,
  });
  await page.getByRole('button', { name: 'Publish' }).click();

  // The post's own page, rendered.
  await expect(page).toHaveURL(/\/posts\//);
  const postUrl = new URL(page.url()).pathname;
  const article = page.getByRole('article');
  await expect(article.getByRole('heading', { name: title, level: 1 })).toBeVisible();
  await expect(article.getByRole('heading', { name: 'Why' })).toBeVisible();
  await expect(article.locator('strong')).toHaveText('browsers');
  await expect(article.getByText('code block')).toBeVisible();
  await expect(article.getByRole('link', { name: member.username, exact: true })).toBeVisible();
  await expect(article.getByText('edited', { exact: true })).toHaveCount(0);

  // Members see it under "Everyone" (the home page's blog is the owner's).
  await page.getByRole('link', { name: 'Quire', exact: true }).click();
  const tabs = page.getByRole('navigation', { name: 'Whose posts' });
  await expect(tabs.getByRole('link', { name: 'Blog' })).toHaveAttribute('aria-current', 'page');
  await expect(page.getByRole('link', { name: title })).toHaveCount(0);
  await tabs.getByRole('link', { name: 'Everyone' }).click();
  await expect(page).toHaveURL('/?view=everyone');
  const card = page.getByRole('article').filter({ has: page.getByRole('link', { name: title }) });
  await expect(card).toBeVisible();
  await expect(card.getByText('What a browser sees.')).toBeVisible();

  // Its tag page, reached from the card.
  await card.getByRole('link', { name: tag }).click();
  await expect(page).toHaveURL(`/tags/${tag}`);
  await expect(page.getByRole('heading', { name: `Posts tagged “${tag}”` })).toBeVisible();
  await expect(page.getByRole('link', { name: title })).toBeVisible();

  // Its author's page, reached from the post.
  await page.goto(postUrl);
  await page.getByRole('article').getByRole('link', { name: member.username, exact: true }).click();
  await expect(page).toHaveURL(`/users/${member.username}`);
  await expect(page.getByRole('heading', { name: member.username, level: 1 })).toBeVisible();
  await expect(page.getByRole('link', { name: title })).toBeVisible();
});

test('edits a published post, which then says "edited"', async ({ page, member }) => {
  const post = await member.publish({ body: 'First version.', tags: unique('tag') });
  const newTitle = unique('Second thoughts');
  await page.goto(post.url);
  await page.getByRole('link', { name: 'Edit post' }).click();

  await expect(page.getByRole('heading', { name: `Edit “${post.title}”` })).toBeVisible();
  await expect(page.getByLabel('Title')).toHaveValue(post.title);
  await expect(page.getByLabel('Body')).toHaveValue(post.body);
  await expect(page.getByLabel('Tags')).toHaveValue(post.tags);
  await page.getByLabel('Title').fill(newTitle);
  await page.getByLabel('Body').fill('Second version.');
  // Already published: the button updates it.
  await expect(page.getByRole('button', { name: 'Publish' })).toHaveCount(0);
  await page.getByRole('button', { name: 'Update' }).click();

  // Same address, new words, marked as edited.
  await expect(page).toHaveURL(post.url);
  await expect(page.getByRole('heading', { name: newTitle, level: 1 })).toBeVisible();
  await expect(page.getByText('Second version.')).toBeVisible();
  await expect(page.getByText('First version.')).toHaveCount(0);
  await expect(page.getByRole('article').getByText('edited', { exact: true })).toBeVisible();
});

test('deletes a post after a confirmation page', async ({ page, member }) => {
  const tag = unique('tag');
  const post = await member.publish({ tags: tag });
  await page.goto(post.url);
  await page.getByRole('link', { name: 'Delete post' }).click();

  await expect(page.getByRole('heading', { name: `Delete “${post.title}”?` })).toBeVisible();
  // Changing one's mind keeps it.
  await page.getByRole('link', { name: 'Keep it' }).click();
  await expect(page).toHaveURL(post.url);
  await page.getByRole('link', { name: 'Delete post' }).click();
  await page.getByRole('button', { name: 'Delete post' }).click();

  await expect(page).toHaveURL('/');
  await page.goto('/?view=everyone');
  await expect(page.getByRole('link', { name: post.title })).toHaveCount(0);
  const gone = await page.goto(post.url);
  expect(gone?.status()).toBe(404);
  await expect(page.getByRole('heading', { name: 'Page not found' })).toBeVisible();
  // Its tag had no other post, so the tag page went with it.
  expect((await page.goto(`/tags/${tag}`))?.status()).toBe(404);
});

test('offers no edit or delete controls on other people’s posts', async ({ page, member, someoneElse }) => {
  const post = await someoneElse.publish();
  await page.goto(post.url);
  await expect(page.getByRole('heading', { name: post.title, level: 1 })).toBeVisible();
  await expect(page.getByRole('link', { name: 'Edit post' })).toHaveCount(0);
  await expect(page.getByRole('link', { name: 'Delete post' })).toHaveCount(0);

  // Nor does guessing the address help.
  expect((await page.goto(`${post.url}/edit`))?.status()).toBe(403);
  await expect(page.getByRole('heading', { name: 'Not allowed' })).toBeVisible();
});
