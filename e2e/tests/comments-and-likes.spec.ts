// Conversations under a post: comments, and likes. Asking for the `member`
// fixture signs the page in as a new member.

import { expect, test } from '../support/fixtures';

test('comments, edits and deletes a comment', async ({ page, member, someoneElse }) => {
  const post = await someoneElse.publish();
  await page.goto(post.url);
  await expect(page.getByRole('heading', { name: '0 comments' })).toBeVisible();

  await page.getByLabel('Add a comment').fill('What a **great** post');
  await page.getByRole('button', { name: 'Post comment' }).click();

  await expect(page.getByRole('heading', { name: '1 comment' })).toBeVisible();
  const comment = page.getByRole('article').filter({ hasText: 'What a great post' });
  await expect(comment.getByRole('link', { name: member.username, exact: true })).toBeVisible();
  await expect(comment.locator('strong')).toHaveText('great');
  await expect(comment.getByText('edited', { exact: true })).toHaveCount(0);

  await comment.getByRole('link', { name: 'Edit comment' }).click();
  await expect(page.getByRole('heading', { name: `Edit your comment on “${post.title}”` })).toBeVisible();
  await expect(page.getByLabel('Comment')).toHaveValue('What a **great** post');
  await page.getByLabel('Comment').fill('On reflection, a good post');
  await page.getByRole('button', { name: 'Save comment' }).click();

  await expect(page).toHaveURL(new RegExp(`${post.url}#comment-\\d+$`));
  const edited = page.getByRole('article').filter({ hasText: 'On reflection, a good post' });
  await expect(edited.getByText('edited', { exact: true })).toBeVisible();
  await expect(page.getByText('What a great post')).toHaveCount(0);

  // The browser asks first; saying no keeps the comment.
  const dialogs: string[] = [];
  page.once('dialog', (dialog) => {
    dialogs.push(dialog.message());
    void dialog.dismiss();
  });
  await edited.getByRole('button', { name: 'Delete comment' }).click();
  await expect.poll(() => dialogs).toEqual(['Delete this comment?']);
  await expect(edited).toBeVisible();

  page.once('dialog', (dialog) => void dialog.accept());
  await edited.getByRole('button', { name: 'Delete comment' }).click();
  await expect(page.getByRole('heading', { name: '0 comments' })).toBeVisible();
  await expect(page.getByText('On reflection, a good post')).toHaveCount(0);
});

test('no comment controls on other people’s comments', async ({ page, member, someoneElse }) => {
  const post = await someoneElse.publish();
  await someoneElse.submit(`${post.url}/comments`, { body: 'The author replies' }, post.url);
  await page.goto(post.url);
  const comment = page.getByRole('article').filter({ hasText: 'The author replies' });
  await expect(comment).toBeVisible();
  await expect(comment.getByRole('link', { name: 'Edit comment' })).toHaveCount(0);
  await expect(comment.getByRole('button', { name: 'Delete comment' })).toHaveCount(0);
});

test('likes and unlikes someone else’s post', async ({ page, member, someoneElse }) => {
  const post = await someoneElse.publish();
  await page.goto(post.url);
  const reactions = page.getByRole('region', { name: 'Reactions' });
  await expect(reactions.getByText('0 likes')).toBeVisible();

  const like = reactions.getByRole('button', { name: 'Like', exact: true });
  await expect(like).toHaveAttribute('aria-pressed', 'false');
  await like.click();
  await expect(reactions.getByText('1 like', { exact: true })).toBeVisible();
  const unlike = reactions.getByRole('button', { name: 'Unlike' });
  await expect(unlike).toHaveAttribute('aria-pressed', 'true');

  await unlike.click();
  await expect(reactions.getByText('0 likes')).toBeVisible();
  await expect(reactions.getByRole('button', { name: 'Like', exact: true })).toHaveAttribute('aria-pressed', 'false');
});

test('cannot like one’s own post', async ({ page, member }) => {
  const post = await member.publish();
  await page.goto(post.url);
  const reactions = page.getByRole('region', { name: 'Reactions' });
  await expect(reactions.getByText('0 likes')).toBeVisible();
  await expect(reactions.getByRole('button')).toHaveCount(0);
});

test('visitors are invited to sign in to like or comment', async ({ page, someoneElse }) => {
  const post = await someoneElse.publish();
  await page.goto(post.url);
  await expect(page.getByRole('button', { name: 'Like', exact: true })).toHaveCount(0);
  await expect(page.getByRole('button', { name: 'Post comment' })).toHaveCount(0);
  await page.getByRole('region', { name: 'Reactions' }).getByRole('link', { name: 'Sign in' }).click();
  await expect(page.getByRole('heading', { name: 'Sign in' })).toBeVisible();
  expect(new URL(page.url()).searchParams.get('next')).toBe(post.url);
});
