// Images in what members write: chosen in the editor's file input (with or
// without JavaScript), dropped or pasted into a post's body or a comment.
// Asking for the `member` fixture signs the page in as a new member.

import type { Locator, Page } from '@playwright/test';

import { expectNoSeriousViolations } from '../support/axe';
import { expect, test, unique } from '../support/fixtures';
import { deliverFiles, gradientPng } from '../support/images';

/** The Markdown of one uploaded image, as the editor writes it. */
const IMAGE = String.raw`!\[\]\(/media/[0-9a-f]{64}\.png\)`;

/** The editor's preview pane, shown if it sits behind a toggle. */
async function openPreview(page: Page): Promise<Locator> {
  const show = page.getByRole('button', { name: 'Show preview' });
  if (await show.isVisible()) await show.click();
  return page.getByRole('region', { name: 'Preview' });
}

/** Puts the text cursor at `at` in a text field. */
async function caretAt(field: Locator, at: number) {
  await field.evaluate((area: HTMLTextAreaElement, at) => {
    area.focus();
    area.setSelectionRange(at, at);
  }, at);
}

const selection = (field: Locator) =>
  field.evaluate((area: HTMLTextAreaElement) => [area.selectionStart, area.selectionEnd]);

/** A screenshot in the report, to see how the page looks at that moment. */
async function snapshot(page: Page, name: string) {
  await test.info().attach(name, { body: await page.screenshot(), contentType: 'image/png' });
}

/** An image shown on the page, and loaded. */
async function expectLoaded(image: Locator) {
  await expect(image).toBeVisible();
  await expect.poll(() => image.evaluate((img: HTMLImageElement) => img.naturalWidth)).toBeGreaterThan(0);
}

test.describe('without JavaScript', () => {
  test.use({ javaScriptEnabled: false });

  test('images chosen in the editor are uploaded with the form, and a refused one is explained', async ({ page, member }) => {
    const title = unique('Holiday');
    const tag = unique('tag');
    await page.goto('/editor');
    await page.getByLabel('Title').fill(title);
    await page.getByLabel('Body').fill('Words first.');
    await page.getByLabel('Tags').fill(tag);

    // Enter in a field still previews, as before the form had files.
    await page.getByLabel('Title').press('Enter');
    await expect(page.getByRole('region', { name: 'Preview' })).toContainText('Words first.');
    await expect(page.locator('.field-errors')).toHaveCount(0);

    await page.getByLabel('Images').setInputFiles([
      { name: 'one.png', mimeType: 'image/png', buffer: gradientPng(400, 240) },
      { name: 'two.png', mimeType: 'image/png', buffer: gradientPng(240, 400) },
    ]);
    await page.getByRole('button', { name: 'Upload images' }).click();

    // Everything typed is kept; each image's Markdown ends the body.
    const body = page.getByLabel('Body');
    await expect(body).toHaveValue(new RegExp(`^Words first\\.\\n\\n${IMAGE}\\n\\n${IMAGE}\\n$`));
    await expect(page.getByLabel('Title')).toHaveValue(title);
    await expect(page.getByLabel('Tags')).toHaveValue(tag);
    await expect(page.getByRole('status')).toContainText('2 images added at the end of the body');
    await expect(page.getByRole('status')).toContainText('for people who cannot see it');
    await snapshot(page, 'uploaded without JavaScript');
    const uploaded = await body.inputValue();

    // Not an image: the reason beside the input, and nothing lost.
    await page.getByLabel('Images').setInputFiles({ name: 'notes.png', mimeType: 'image/png', buffer: Buffer.from('only words') });
    await page.getByRole('button', { name: 'Upload images' }).click();
    await expect(page.locator('#file-errors')).toHaveText(
      'File “notes.png” is not an image we accept: upload a JPEG, PNG, GIF or WebP image',
    );
    await expect(page.getByLabel('Images')).toHaveAttribute('aria-invalid', 'true');
    await expect(body).toHaveValue(uploaded);
    await expect(page.getByLabel('Title')).toHaveValue(title);

    await page.getByRole('button', { name: 'Preview', exact: true }).click();
    await expect(page.getByRole('region', { name: 'Preview' }).locator('img[src^="/media/"]')).toHaveCount(2);

    // Publishing sends no image again: only the upload button uploads.
    await page.getByLabel('Body').fill(uploaded.replace('![]', '![A gradient, wide]'));
    await page.getByRole('button', { name: 'Publish' }).click();
    await expect(page).toHaveURL(/\/posts\//);
    const article = page.getByRole('article');
    await expect(article.locator('img')).toHaveCount(2);
    await expect(article.getByRole('img', { name: 'A gradient, wide' })).toHaveAttribute('width', '400');
  });
});

test('drops images into the editor: each with its progress, then its Markdown at the cursor, in the live preview and the post', async ({ page, member }) => {
  const title = unique('Pictures');
  await page.goto('/editor');
  await page.getByLabel('Title').fill(title);
  const body = page.getByLabel('Body');
  await body.fill('First paragraph.\n\n\n\nLast paragraph.');
  await caretAt(body, 18);

  // The first answer waits until released, so the progress can be seen.
  let release = () => {};
  const held = new Promise<void>((resolve) => (release = resolve));
  await page.route('**/media', async (route) => {
    await held;
    await route.continue();
  });
  await deliverFiles(body, 'drop', ['sunset.png', 'harbour.png']);
  await expect(page.getByRole('progressbar', { name: 'Uploading sunset.png' })).toBeVisible();
  await expect(page.getByRole('progressbar', { name: 'Waiting to upload harbour.png' })).toBeVisible();
  // Their places are kept at the cursor meanwhile.
  await expect(body).toHaveValue(/^First paragraph\.\n\n\[Uploading sunset\.png \(\d+\)…\]\n\[Uploading harbour\.png \(\d+\)…\]\n\n/);
  const preview = await openPreview(page);
  await expect(preview).toContainText('Uploading sunset.png');
  await page.getByRole('progressbar', { name: 'Waiting to upload harbour.png' }).scrollIntoViewIfNeeded();
  await snapshot(page, 'uploading');
  await expectNoSeriousViolations(page, test.info(), 'editor, uploading');
  release();

  await expect(page.getByRole('progressbar')).toHaveCount(0);
  await expect(body).toHaveValue(new RegExp(`^First paragraph\\.\\n\\n${IMAGE}\\n${IMAGE}\\n\\nLast paragraph\\.$`));
  await expect(page.getByRole('status').filter({ hasText: 'Describe this image for people who cannot see it' })).toBeVisible();
  // The cursor waits where the last image's description goes.
  const value = await body.inputValue();
  const last = value.lastIndexOf('![') + 2;
  expect(await selection(body)).toEqual([last, last]);
  // Back from the preview's toggle (narrow screens) to the text, where the
  // cursor was left.
  await body.focus();
  await page.keyboard.type('A harbour at dusk');

  await expect(preview.locator('img[src^="/media/"]')).toHaveCount(2);
  await expectLoaded(preview.getByRole('img', { name: 'A harbour at dusk' }));
  await snapshot(page, 'inserted');

  await page.getByRole('button', { name: 'Publish' }).click();
  await expect(page.getByRole('heading', { name: title, level: 1 })).toBeVisible();
  const article = page.getByRole('article');
  await expect(article.locator('img')).toHaveCount(2);
  await expectLoaded(article.getByRole('img', { name: 'A harbour at dusk' }));
});

test('pastes an image into the editor at the cursor; files chosen with the script go up at once', async ({ page, member }) => {
  await page.goto('/editor');
  const body = page.getByLabel('Body');
  await body.fill('Before. After.');
  await caretAt(body, 8);
  await deliverFiles(body, 'paste', ['screenshot.png']);
  await expect(body).toHaveValue(new RegExp(`^Before\\. ${IMAGE}After\\.$`));
  expect(await selection(body)).toEqual([10, 10]);
  await expectLoaded((await openPreview(page)).locator('img[src^="/media/"]'));

  // The file input uploads on its own; its button is for browsers without the script.
  await expect(page.getByRole('button', { name: 'Upload images' })).toBeHidden();
  await caretAt(body, 0);
  await page.getByLabel('Images').setInputFiles({ name: 'chosen.png', mimeType: 'image/png', buffer: gradientPng(300, 200) });
  await expect(body).toHaveValue(new RegExp(`^${IMAGE}Before\\. ${IMAGE}After\\.$`));
});

test('comments take dropped and pasted images; a refused file is explained and nothing typed is lost', async ({ page, member, someoneElse }) => {
  const post = await someoneElse.publish();
  await page.goto(post.url);
  const field = page.getByLabel('Add a comment');
  await field.fill('Look at this: ');
  await caretAt(field, 14);
  await deliverFiles(field, 'drop', ['notes.txt', 'view.png']);

  await expect(page.getByRole('alert')).toHaveText(
    'notes.txt: The file is not an image we accept: upload a JPEG, PNG, GIF or WebP image.',
  );
  // Its place was a line of its own; the line stays.
  await expect(field).toHaveValue(new RegExp(`^Look at this: \\n${IMAGE}$`));
  await snapshot(page, 'comment with a refused file');
  await expectNoSeriousViolations(page, test.info(), 'comment with a refused file');
  await page.keyboard.type('The view');
  await page.getByRole('button', { name: 'Post comment' }).click();

  const comment = page.getByRole('article').filter({ hasText: 'Look at this:' });
  await expectLoaded(comment.getByRole('img', { name: 'The view' }));

  // The edit form too.
  await comment.getByRole('link', { name: 'Edit comment' }).click();
  const edit = page.getByLabel('Comment');
  await caretAt(edit, (await edit.inputValue()).length);
  await deliverFiles(edit, 'paste', ['more.png']);
  await expect(edit).toHaveValue(new RegExp(`${IMAGE}$`));
  await page.getByRole('button', { name: 'Save comment' }).click();
  await expect(page.getByRole('article').filter({ hasText: 'Look at this:' }).locator('img')).toHaveCount(2);
});
