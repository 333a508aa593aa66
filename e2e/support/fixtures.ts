// The `test` every spec imports: Playwright's, plus helpers for the people a
// scenario needs.
//
// What a spec is about is always done through the page, as a person would.
// What it merely needs beforehand (an account, someone else's post) is set
// up with plain form posts over HTTP, which is what the site's forms send
// anyway and takes milliseconds instead of a page load per step.

import { randomBytes } from 'node:crypto';

import { expect, test as base, type APIRequestContext, type Locator, type Page } from '@playwright/test';

import { emailedLink } from './outbox';
import { PASSWORD } from './site';

/** A name no other test (or earlier run of this one) uses: all tests share
 * one database, so every account, title and tag a test makes is unique. */
export function unique(prefix: string): string {
  return `${prefix}-${randomBytes(4).toString('hex')}`;
}

export interface Post {
  title: string;
  description: string;
  body: string;
  tags: string;
  /** The post's address, e.g. /posts/a-title */
  url: string;
}

/**
 * Someone using the site through form posts: `request` carries their cookies.
 * Given `page.request`, it shares cookies with that page, so signing in here
 * signs the page in too.
 */
export class Person {
  constructor(
    private readonly request: APIRequestContext,
    public readonly username: string,
  ) {}

  get email() {
    return `${this.username}@example.com`;
  }

  /** The anti-forgery token of the forms on a page (also sets its cookie). */
  private async token(path: string): Promise<string> {
    const html = await (await this.request.get(path)).text();
    const token = /name="csrf_token" value="([^"]+)"/.exec(html)?.[1];
    if (!token) throw new Error(`no csrf_token on ${path}`);
    return token;
  }

  /** Posts a form like the page's own would, and expects the 303 that a
   * successful submission gets; returns where it redirects to. */
  async submit(path: string, fields: Record<string, string>, tokenFrom = path): Promise<string> {
    const response = await this.request.post(path, {
      form: { csrf_token: await this.token(tokenFrom), ...fields },
      maxRedirects: 0,
    });
    expect(response.status(), `POST ${path}: ${(await response.text()).slice(0, 500)}`).toBe(303);
    return response.headers()['location'];
  }

  /** Registers on the site's form and finishes with the link emailed to
   * the address, which signs them in. */
  async register(): Promise<this> {
    const response = await this.request.post('/register', {
      form: { csrf_token: await this.token('/register'), username: this.username, email: this.email, password: PASSWORD },
      maxRedirects: 0,
    });
    // "Check your inbox": the same answer whether or not the address has an account.
    expect(response.status(), `POST /register: ${(await response.text()).slice(0, 500)}`).toBe(200);
    await this.submit(await emailedLink(this.email, '/register/confirm/'), {});
    return this;
  }

  async publish(fields: Partial<Omit<Post, 'url'>> = {}): Promise<Post> {
    const post = {
      title: fields.title ?? unique('A post'),
      description: fields.description ?? '',
      body: fields.body ?? 'Some words.',
      tags: fields.tags ?? '',
    };
    const url = await this.submit('/editor', { ...post, action: 'publish' });
    expect(url).toMatch(/^\/posts\//);
    return { ...post, url };
  }
}

/** The header's main navigation, as a person reaches it: on a phone it is
 * a menu, opened first. */
export async function mainNav(page: Page): Promise<Locator> {
  const menu = page.locator('details.nav-menu');
  if ((await menu.isVisible()) && (await menu.getAttribute('open')) === null) {
    await menu.getByText('Menu').click();
  }
  return page.getByRole('navigation', { name: 'Main' });
}

/** Signs a page out through the header's button. */
export async function signOut(page: Page) {
  await (await mainNav(page)).getByRole('button', { name: 'Sign out' }).click();
  await expect((await mainNav(page)).getByRole('link', { name: 'Sign in' })).toBeVisible();
}

/** Fills the sign-in form the page is on and submits it. */
export async function fillSignIn(page: Page, login: string, password: string) {
  await page.getByLabel('Username or email').fill(login);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

type Fixtures = {
  /** A new member, already signed in on `page`. */
  member: Person;
  /** Another new member with a browser (cookie jar) of their own. */
  someoneElse: Person;
};

export const test = base.extend<Fixtures>({
  // Every page of every scenario runs under the site's
  // Content-Security-Policy; anything it blocks (an inline script, a style)
  // is a failure of the test, not a silent loss in the browser.
  page: async ({ page }, use) => {
    const violations: string[] = [];
    page.on('console', (message) => {
      if (message.type() === 'error' && /Content Security Policy/i.test(message.text())) {
        violations.push(`${page.url()}: ${message.text()}`);
      }
    });
    await use(page);
    expect(violations, 'Content-Security-Policy violations').toEqual([]);
  },
  member: async ({ page }, use) => {
    await use(await new Person(page.request, unique('member')).register());
  },
  someoneElse: async ({ playwright, baseURL }, use) => {
    const request = await playwright.request.newContext({ baseURL });
    await use(await new Person(request, unique('writer')).register());
    await request.dispose();
  },
});

export { expect };
