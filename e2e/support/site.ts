// Facts about the site under test that the global setup and the specs share.

/** The account global setup registers first, so it becomes the owner. */
export const OWNER = {
  username: 'owner',
  email: 'owner@example.com',
  password: 'owner password 1',
} as const;

/** The one post global setup publishes as the owner. Specs never publish as
 * the owner, so the owner's blog (the anonymous home page) holds exactly this. */
export const OWNER_POST = {
  title: 'Welcome to the owner’s blog',
  body: 'The **owner** writes here.',
  tag: 'welcome',
} as const;

/** Every account a spec registers uses this password. */
export const PASSWORD = 'correct horse battery';

/** Where global setup publishes the server's address for the workers. */
export const BASE_URL_ENV = 'QUIRE_E2E_BASE_URL';

/** Where global setup publishes the server's outbox folder (its emails). */
export const OUTBOX_ENV = 'QUIRE_E2E_OUTBOX';
