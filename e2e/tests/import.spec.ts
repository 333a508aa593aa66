// The owner imports a WordPress export from /admin/import: the upload runs
// as a job, the page follows it with a progress bar (refreshing itself,
// no script), then says what was added and what was skipped and why; the
// imported post shows its comments threaded, by guests.

import { expectNoSeriousViolations } from '../support/axe';
import { expect, fillSignIn, test, unique } from '../support/fixtures';
import { OWNER } from '../support/site';

/** A WordPress export (WXR 1.2) of one published post with a thread of
 * comments, a spam comment, and `drafts` drafts (which no reader of the
 * shared site sees) to give the job something to count. */
function wxr(site: string, title: string, slug: string, drafts: number): string {
  const comment = (id: number, parent: number, author: string, text: string, approved = '1') => `
    <wp:comment>
      <wp:comment_id>${id}</wp:comment_id>
      <wp:comment_author><![CDATA[${author}]]></wp:comment_author>
      <wp:comment_author_url>https://${author.toLowerCase()}.example.org</wp:comment_author_url>
      <wp:comment_date_gmt><![CDATA[2019-05-12 0${id}:00:00]]></wp:comment_date_gmt>
      <wp:comment_content><![CDATA[${text}]]></wp:comment_content>
      <wp:comment_approved><![CDATA[${approved}]]></wp:comment_approved>
      <wp:comment_type><![CDATA[comment]]></wp:comment_type>
      <wp:comment_parent>${parent}</wp:comment_parent>
    </wp:comment>`;
  const item = (id: number, itemTitle: string, status: string, body: string, comments = '') => `
  <item>
    <title><![CDATA[${itemTitle}]]></title>
    <link>${site}/2019/05/${id === 1 ? slug : `draft-${id}`}/</link>
    <content:encoded><![CDATA[${body}]]></content:encoded>
    <excerpt:encoded><![CDATA[]]></excerpt:encoded>
    <wp:post_id>${id}</wp:post_id>
    <wp:post_date_gmt><![CDATA[2019-05-12 05:30:00]]></wp:post_date_gmt>
    <wp:post_name><![CDATA[${id === 1 ? slug : ''}]]></wp:post_name>
    <wp:status><![CDATA[${status}]]></wp:status>
    <wp:post_type><![CDATA[post]]></wp:post_type>
    <category domain="post_tag" nicename="harbour"><![CDATA[harbour]]></category>${comments}
  </item>`;
  const thread =
    comment(1, 0, 'Ana', 'Lovely photos!\nThe light was grey all morning.') +
    comment(2, 1, 'Ben', 'Grey here too.') +
    comment(3, 2, 'Ana', 'Next time, then.') +
    comment(4, 0, 'Spammer', 'Cheap watches', 'spam');
  const items = [item(1, title, 'publish', 'Boats, <em>fog</em> and a café.\n\nWhat is 2 * 3?', thread)];
  for (let n = 0; n < drafts; n++) {
    items.push(item(100 + n, `${title} draft ${n}`, 'draft', `Draft number ${n}.`));
  }
  return `<?xml version="1.0" encoding="UTF-8" ?>
<rss version="2.0" xmlns:excerpt="http://wordpress.org/export/1.2/excerpt/"
  xmlns:content="http://purl.org/rss/1.0/modules/content/" xmlns:wfw="http://wellformedweb.org/CommentAPI/"
  xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:wp="http://wordpress.org/export/1.2/">
<channel>
  <title>Old blog</title>
  <link>${site}</link>
  <wp:wxr_version>1.2</wp:wxr_version>
  <wp:base_site_url>${site}</wp:base_site_url>
  ${items.join('')}
</channel>
</rss>`;
}

test('the owner imports a WordPress export and follows it to its report', async ({ page }) => {
  await page.goto('/login');
  await fillSignIn(page, OWNER.username, OWNER.password);
  await expect(page).toHaveURL(/\/$/);

  await page.goto('/admin/import');
  await expect(page.getByRole('heading', { name: 'Import', level: 1 })).toBeVisible();
  await expectNoSeriousViolations(page, test.info(), 'import form');

  // Nothing chosen: said beside the file input (the browser's own check
  // is what a person meets first; the server's is the same).
  await page.locator('#file').evaluate((input: HTMLInputElement) => input.removeAttribute('required'));
  await page.getByRole('button', { name: 'Import', exact: true }).click();
  await expect(page.locator('#file-errors')).toContainText('must be chosen');

  const name = unique('harbour');
  const title = `Harbour ${name}`;
  const xml = wxr(`https://${name}.example.com`, title, name, 60);
  await page.getByLabel('WordPress').check();
  await page.getByLabel(/^File/).setInputFiles({ name: 'export.xml', mimeType: 'application/xml', buffer: Buffer.from(xml) });
  await page.getByRole('button', { name: 'Import', exact: true }).click();

  // The import's own page: a progress bar while it waits or runs…
  await expect(page).toHaveURL(/\/admin\/import\/\d+$/);
  await expect(page.getByRole('heading', { name: 'Import of export.xml', level: 1 })).toBeVisible();
  const status = page.getByRole('status');
  const progress = page.locator('progress');
  if (await progress.isVisible()) {
    await test.info().attach('import under way', { body: await page.screenshot(), contentType: 'image/png' });
  }
  // …and, the page refreshing itself, the report.
  await expect(status).toContainText('Done: 61 added, 0 updated, 1 skipped; 3 comments', { timeout: 60_000 });
  await expect(progress).toHaveCount(0);
  await expect(page.getByRole('region', { name: 'Skipped, and why' })).toContainText('marked as spam');
  await test.info().attach('import report', { body: await page.screenshot({ fullPage: true }), contentType: 'image/png' });
  await expectNoSeriousViolations(page, test.info(), 'import report');

  // The post as a reader sees it: its text, and its comments threaded.
  await page.goto(`/posts/${name}`);
  await expect(page.getByRole('heading', { name: title, level: 1 })).toBeVisible();
  await expect(page.locator('article .prose').first()).toContainText('What is 2 * 3?');
  await expect(page.getByRole('heading', { name: '3 comments' })).toBeVisible();
  const replies = page.getByRole('list', { name: 'Replies to Ana' });
  await expect(replies.getByRole('link', { name: 'Ben' })).toHaveAttribute('href', 'https://ben.example.org/');
  await expect(page.getByRole('list', { name: 'Replies to Ben' })).toContainText('Next time, then.');
  await test.info().attach('threaded comments', { body: await page.locator('#comments').screenshot(), contentType: 'image/png' });
  await expectNoSeriousViolations(page, test.info(), 'imported post with threaded comments');

  // Its old address leads to it.
  await page.goto(`/2019/05/${name}/`);
  await expect(page).toHaveURL(new RegExp(`/posts/${name}$`));
});
