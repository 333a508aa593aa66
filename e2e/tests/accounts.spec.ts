// Registering, signing in and out, and where the site sends people.

import { expect, fillSignIn, mainNav, Person, signOut, test, unique } from '../support/fixtures';
import { emailedLink } from '../support/outbox';
import { PASSWORD } from '../support/site';

test('registers a new account and is signed in', async ({ page }) => {
  const username = unique('newcomer');
  await page.goto('/');
  await (await mainNav(page)).getByRole('link', { name: 'Register' }).click();
  await expect(page.getByRole('heading', { name: 'Register' })).toBeVisible();

  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Email').fill(`${username}@example.com`);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Create account' }).click();

  await expect(page.getByRole('heading', { name: 'Check your inbox' })).toBeVisible();
  await expect(page.getByRole('status')).toContainText(`${username}@example.com`);
  await page.goto(await emailedLink(`${username}@example.com`, '/register/confirm/'));
  await expect(page.getByRole('heading', { name: 'Finish registering' })).toBeVisible();
  await page.getByRole('button', { name: 'Create my account' }).click();

  await expect(page).toHaveURL('/');
  const nav = await mainNav(page);
  await expect(nav.getByRole('link', { name: username, exact: true })).toBeVisible();
  await expect(nav.getByRole('button', { name: 'Sign out' })).toBeVisible();
  await expect(nav.getByRole('link', { name: 'Register' })).toHaveCount(0);
});

test('registering with an address that has an account answers as for any other', async ({ page, someoneElse }) => {
  await page.goto('/register');
  await page.getByLabel('Username').fill(unique('copycat'));
  await page.getByLabel('Email').fill(someoneElse.email);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Create account' }).click();

  await expect(page.getByRole('heading', { name: 'Check your inbox' })).toBeVisible();
  await expect(page.getByRole('status')).toContainText(someoneElse.email);
  await expect(page.locator('form[action="/logout"]')).toHaveCount(0);
});

test('registering a taken username shows the error and keeps what was typed', async ({ page, someoneElse }) => {
  await page.goto('/register');
  await page.getByLabel('Username').fill(someoneElse.username);
  await page.getByLabel('Email').fill(`${unique('other')}@example.com`);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Create account' }).click();

  await expect(page.getByRole('listitem').filter({ hasText: 'Username has already been taken' })).toBeVisible();
  const username = page.getByLabel('Username');
  await expect(username).toHaveValue(someoneElse.username);
  // The message is tied to the field for screen readers.
  await expect(username).toHaveAttribute('aria-invalid', 'true');
  await expect(username).toHaveAccessibleDescription(/Username has already been taken/);
  await expect(page.locator('form[action="/logout"]')).toHaveCount(0);
});

test('signs in with username or email, and signs out', async ({ page, request }) => {
  const person = await new Person(request, unique('returning')).register();

  await page.goto('/');
  await (await mainNav(page)).getByRole('link', { name: 'Sign in' }).click();
  await expect(page.getByRole('heading', { name: 'Sign in' })).toBeVisible();
  await fillSignIn(page, person.username, PASSWORD);
  await expect(page).toHaveURL('/');
  await expect((await mainNav(page)).getByRole('link', { name: person.username, exact: true })).toBeVisible();

  await signOut(page);
  await expect(page.locator('form[action="/logout"]')).toHaveCount(0);
  // Signed out for real: a members-only page asks to sign in again.
  await page.goto('/settings');
  await expect(page.getByRole('heading', { name: 'Sign in' })).toBeVisible();

  await fillSignIn(page, person.email.toUpperCase(), PASSWORD);
  await expect(page).toHaveURL('/settings');
  await expect(page.getByRole('heading', { name: 'Settings', level: 1 })).toBeVisible();
});

test('wrong credentials show one message that does not say which part was wrong', async ({ page, someoneElse }) => {
  await page.goto('/login');
  await fillSignIn(page, someoneElse.username, 'not the password');

  const alert = page.getByRole('alert');
  await expect(alert).toHaveText('Wrong username or password.');
  await expect(page.getByLabel('Username or email')).toHaveValue(someoneElse.username);
  await expect(page.getByLabel('Username or email')).toHaveAccessibleDescription('Wrong username or password.');
  await expect(page.getByLabel('Password')).toHaveValue('');
  await expect(page.locator('form[action="/logout"]')).toHaveCount(0);
});

test('sign-in errors are gone after navigating away and back', async ({ page, someoneElse }) => {
  await page.goto('/login');
  await fillSignIn(page, someoneElse.username, 'not the password');
  await expect(page.getByRole('alert')).toHaveText('Wrong username or password.');

  await (await mainNav(page)).getByRole('link', { name: 'Register' }).click();
  await expect(page.getByRole('heading', { name: 'Register' })).toBeVisible();
  await (await mainNav(page)).getByRole('link', { name: 'Sign in' }).click();

  await expect(page.getByRole('heading', { name: 'Sign in' })).toBeVisible();
  await expect(page.getByText('Wrong username or password.')).toHaveCount(0);
  await expect(page.getByLabel('Username or email')).not.toHaveAttribute('aria-invalid', 'true');
  await expect(page.getByLabel('Username or email')).toHaveValue('');
});

test('sign-in returns to the page that asked for it', async ({ page, request }) => {
  const person = await new Person(request, unique('writer')).register();

  await page.goto('/editor');
  await expect(page).toHaveURL('/login?next=%2Feditor&why=members');
  await expect(page.getByRole('status')).toHaveText('That page is for signed-in members. Sign in and you will go straight back to it.');
  await fillSignIn(page, person.username, PASSWORD);

  await expect(page).toHaveURL('/editor');
  await expect(page.getByRole('heading', { name: 'New post' })).toBeVisible();
});

test('signed-in people opening sign-in or register are sent home', async ({ page, member }) => {
  await page.goto('/login');
  await expect(page).toHaveURL('/');
  await page.goto('/register');
  await expect(page).toHaveURL('/');
  await expect((await mainNav(page)).getByRole('link', { name: member.username, exact: true })).toBeVisible();
});

// Signed-in pages are sent with `Cache-Control: private, no-store`, so after
// "Sign out" the browser's Back button cannot show the private page again.
test('after signing out, Back does not show the signed-in page again', async ({ page, member }) => {
  await page.goto('/settings');
  await expect(page.getByLabel('Email')).toHaveValue(member.email);
  await signOut(page);
  await page.goBack();
  await expect(page.getByLabel('Email')).not.toHaveValue(member.email);
  await expect(page.locator('form[action="/logout"]')).toHaveCount(0);
});
