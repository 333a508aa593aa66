// Reading and writing long posts: contents, code, math, preview links, the
// phone's menu, replies seen where the reader is looking, and times in the
// author's own zone.

import { expectNoSeriousViolations } from '../support/axe';
import { expect, mainNav, test, unique } from '../support/fixtures';

// Transitions off, as in the accessibility spec: axe must never measure the
// colours halfway through the fade to the dark theme.
test.use({ reducedMotion: 'reduce' });

const LONG_POST = [
  'An opening paragraph.',
  '# First section',
  'Words. '.repeat(400),
  '# Second section',
  'With code:',
  '```rust\nfn main() {\n    println!("hello");\n}\n```',
  'And Euler: $e^{i\\pi} + 1 = 0$.',
  '## A subsection',
  'Words. '.repeat(400),
  '# Third section',
  'The end.',
].join('\n\n');

test('a long post opens with contents; code is highlighted and copied; math is drawn', async ({ page, member, context }) => {
  const post = await member.publish({ body: LONG_POST });
  await context.grantPermissions(['clipboard-read', 'clipboard-write']);
  await page.goto(post.url);

  const contents = page.getByRole('navigation', { name: 'Contents' });
  await expect(contents.getByRole('link')).toHaveText(['First section', 'Second section', 'A subsection', 'Third section']);
  await contents.getByRole('link', { name: 'Third section' }).click();
  await expect(page).toHaveURL(/#user-content-third-section$/);
  await expect(page.getByRole('heading', { name: 'Third section' })).toBeInViewport();

  // Highlighted by the server; the language and a Copy button by the script.
  const block = page.locator('.code-block');
  await expect(block.locator('.code-bar')).toContainText('rust');
  await expect(block.locator('.hl-keyword').first()).toHaveText('fn');
  await block.getByRole('button', { name: 'Copy' }).click();
  await expect(block.getByRole('button', { name: 'Copied' })).toBeVisible();
  expect(await page.evaluate(() => navigator.clipboard.readText())).toContain('println!("hello");');

  await expect(page.locator('math')).toHaveCount(1);
  await expectNoSeriousViolations(page, test.info(), 'a long post, light');
  const toggle = page.locator('[data-theme-toggle]');
  await toggle.click();
  await expect(toggle).toHaveAttribute('aria-pressed', 'true');
  await page.mouse.move(0, 0);
  await expectNoSeriousViolations(page, test.info(), 'a long post, dark');
});

test('a draft’s preview link shows it to anyone until it is revoked', async ({ page, member, browser }) => {
  const title = unique('Draft for a friend');
  const draft = await member.submit('/editor', { title, body: 'Not *yet* out.', action: 'draft' });
  await page.goto(`${draft}/edit`);
  await page.getByRole('button', { name: 'Create a preview link' }).click();
  const link = await page.getByLabel('Preview link').inputValue();
  const address = new URL(link).pathname;

  const friend = await browser.newContext();
  const friendPage = await friend.newPage();
  const response = await friendPage.goto(address);
  expect(response?.headers()['x-robots-tag']).toBe('noindex, nofollow');
  await expect(friendPage.getByRole('heading', { name: title, level: 1 })).toBeVisible();
  await expect(friendPage.getByRole('note')).toContainText('A preview of a draft');
  await expect(friendPage.locator('em')).toHaveText('yet');

  await page.getByRole('button', { name: 'Revoke the link' }).click();
  await expect(page.getByRole('button', { name: 'Create a preview link' })).toBeVisible();
  expect((await friendPage.goto(address))?.status()).toBe(404);
  await friend.close();
});

test.describe('without JavaScript', () => {
  test.use({ javaScriptEnabled: false });

  test('on a phone the header’s links are a menu that opens', async ({ page, member, isMobile }) => {
    test.skip(!isMobile, 'wide screens show the links in the header');
    await page.goto('/');
    const menu = page.locator('details.nav-menu');
    await expect(menu.getByText('Menu')).toBeVisible();
    await expect(page.getByRole('link', { name: 'Settings' })).toBeHidden();
    // The whole header is one row and the search box: the links do not wrap into it.
    const header = await page.locator('.site-header').boundingBox();
    expect(header!.height).toBeLessThan(130);

    const nav = await mainNav(page);
    await expect(nav.getByRole('link', { name: member.username, exact: true })).toBeVisible();
    await nav.getByRole('link', { name: 'Settings' }).click();
    await expect(page.getByRole('heading', { name: 'Settings', level: 1 })).toBeVisible();
  });

  test('a reply’s preview and its error come back where the reader is', async ({ page, member, someoneElse }) => {
    const post = await someoneElse.publish({ body: 'Words. '.repeat(1500) });
    await page.goto(post.url);
    await page.getByLabel('Add a comment').fill('Is *this* right?');
    await page.getByRole('button', { name: 'Preview' }).click();
    await expect(page.getByRole('region', { name: 'Preview' })).toBeInViewport();
    await expect(page.getByRole('region', { name: 'Preview' }).locator('em')).toHaveText('this');

    await page.getByLabel('Add a comment').fill('   ');
    await page.getByRole('button', { name: 'Post comment' }).click();
    const error = page.locator('#add-comment .field-errors');
    await expect(error).toContainText('Your comment');
    await expect(error).toBeInViewport();
  });
});

test.describe('in Tokyo', () => {
  test.use({ timezoneId: 'Asia/Tokyo' });

  test('“Publish at” is the author’s own time', async ({ page, member }) => {
    // Any page lets the script tell the site the browser's zone.
    await page.goto('/');
    await page.goto('/editor');
    await expect(page.locator('label[for=publish_at]')).toContainText('your time, Asia/Tokyo');
    const title = unique('Tokyo new year');
    await page.getByLabel('Title').fill(title);
    await page.getByLabel('Body').fill('Happy new year.');
    await page.getByLabel('Publish at').fill('2999-01-01T09:00');
    await page.getByRole('button', { name: 'Publish' }).click();
    await expect(page.getByRole('heading', { name: title, level: 1 })).toBeVisible();
    await expect(page.locator('.badge time')).toHaveAttribute('datetime', '2999-01-01T00:00:00Z');
  });
});
