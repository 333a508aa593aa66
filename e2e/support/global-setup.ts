// Starts one Quire server for the whole run, on a fresh data folder and a free
// loopback port, then registers the owner and publishes the owner's post over
// plain HTTP forms (as a browser without JavaScript would), so that blog-mode
// expectations are deterministic whatever order the specs run in. The owner,
// the site's first account, is in at once; every later registration follows
// the link the server's worker writes to DATA_DIR/outbox (support/outbox.ts).
//
// The function returned is Playwright's global teardown: it stops the server
// and removes the data folder.

import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

import { BASE_URL_ENV, OUTBOX_ENV, OWNER, OWNER_POST } from './site';

const ARTIFACTS = path.join(__dirname, '..', 'artifacts');
const START_TIMEOUT_MS = 30_000;

/** QUIRE_E2E_BIN, else the release build, else the debug build. */
function serverBinary(): string {
  const fromEnv = process.env.QUIRE_E2E_BIN;
  if (fromEnv) {
    if (!fs.existsSync(fromEnv)) throw new Error(`QUIRE_E2E_BIN=${fromEnv} does not exist`);
    return fromEnv;
  }
  const target = process.env.CARGO_TARGET_DIR ?? path.join(os.homedir(), '.cache', 'quire-target');
  const candidates = [path.join(target, 'release', 'quire'), path.join(target, 'debug', 'quire')];
  const [release, debug] = candidates.map((candidate) => (fs.existsSync(candidate) ? fs.statSync(candidate) : undefined));
  if (!release && !debug) {
    throw new Error(`no Quire binary: build one (cargo build --release) or set QUIRE_E2E_BIN; looked at ${candidates.join(', ')}`);
  }
  if (release && debug && release.mtimeMs < debug.mtimeMs) {
    process.stderr.write(`[e2e] warning: ${candidates[0]} is older than ${candidates[1]}; set QUIRE_E2E_BIN to test a particular build\n`);
  }
  return release ? candidates[0] : candidates[1];
}

/** A port the kernel says is free right now. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.unref();
    probe.on('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits until GET / answers 200; false if the process exits first. */
async function waitUntilReady(child: ChildProcess, baseUrl: string): Promise<boolean> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) return false;
    try {
      const response = await fetch(baseUrl, { redirect: 'manual', signal: AbortSignal.timeout(2_000) });
      if (response.status === 200) return true;
    } catch {
      // Not listening yet.
    }
    await sleep(100);
  }
  throw new Error(`Quire did not answer GET / with 200 within ${START_TIMEOUT_MS} ms`);
}

/** Starts the server; retries on a new port if another process took the one
 * picked between probing and binding (the server then exits at once). */
async function startServer(binary: string, dataDir: string, log: fs.WriteStream) {
  for (let attempt = 1; attempt <= 3; attempt++) {
    const port = await freePort();
    const baseUrl = `http://127.0.0.1:${port}`;
    const child = spawn(binary, ['serve'], {
      env: {
        // The developer's own QUIRE_* settings (a theme, a PostgreSQL URL…)
        // must not leak in: the run gets a stock site on a fresh SQLite file.
        ...Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('QUIRE_'))),
        QUIRE_DATA_DIR: dataDir,
        QUIRE_BIND: `127.0.0.1:${port}`,
        QUIRE_DATABASE_URL: `sqlite://${path.join(dataDir, 'quire.db')}`,
        QUIRE_PUBLIC_URL: `${baseUrl}/`,
        QUIRE_REGISTRATION: 'open',
        // Every spec's accounts come from 127.0.0.1: one address's budget
        // of registrations would not last the run.
        QUIRE_RATE_LIMITS: 'off',
        // No load balancer to drain for: stop at once on SIGTERM.
        QUIRE_SHUTDOWN_DRAIN: '0s',
        // Test-only (hidden): federation.spec.ts's ActivityPub peer runs on
        // http://127.0.0.1; without this, Quire refuses to fetch its actor
        // (only public addresses are fetched) and so refuses its replies.
        QUIRE_FEDERATION_ALLOW_LOOPBACK: 'true',
      },
      // Its working directory is the data folder, so no stray .env is read.
      cwd: dataDir,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.pipe(log, { end: false });
    child.stderr!.pipe(log, { end: false });
    if (await waitUntilReady(child, baseUrl)) return { child, baseUrl };
    log.write(`\n[e2e] server exited early (attempt ${attempt}); retrying on another port\n`);
  }
  throw new Error(`Quire would not start; see ${path.join(ARTIFACTS, 'server.log')}`);
}

/** A form session over fetch: keeps cookies, reads the anti-forgery token. */
class FormClient {
  private cookies = new Map<string, string>();

  constructor(private readonly baseUrl: string) {}

  private remember(response: Response) {
    for (const header of response.headers.getSetCookie()) {
      const [pair] = header.split(';');
      const eq = pair.indexOf('=');
      this.cookies.set(pair.slice(0, eq).trim(), pair.slice(eq + 1).trim());
    }
  }

  private cookieHeader() {
    return [...this.cookies].map(([name, value]) => `${name}=${value}`).join('; ');
  }

  /** Fetches a page and returns the csrf_token of its forms. */
  async formToken(pathname: string): Promise<string> {
    const response = await fetch(this.baseUrl + pathname, { headers: { cookie: this.cookieHeader() }, redirect: 'manual' });
    this.remember(response);
    const html = await response.text();
    const token = /name="csrf_token" value="([^"]+)"/.exec(html)?.[1];
    if (!token) throw new Error(`no csrf_token on ${pathname} (status ${response.status})`);
    return token;
  }

  /** Posts a form and expects the 303 that a successful submission gets. */
  async submit(pathname: string, fields: Record<string, string>): Promise<string> {
    const response = await fetch(this.baseUrl + pathname, {
      method: 'POST',
      headers: { cookie: this.cookieHeader(), 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(fields).toString(),
      redirect: 'manual',
    });
    this.remember(response);
    if (response.status !== 303) {
      throw new Error(`POST ${pathname} answered ${response.status}, not 303:\n${(await response.text()).slice(0, 2000)}`);
    }
    return response.headers.get('location') ?? '';
  }
}

async function seedOwner(baseUrl: string) {
  const owner = new FormClient(baseUrl);
  const token = await owner.formToken('/register');
  await owner.submit('/register', { csrf_token: token, username: OWNER.username, email: OWNER.email, password: OWNER.password });
  await owner.submit('/editor', {
    csrf_token: await owner.formToken('/editor'),
    title: OWNER_POST.title,
    body: OWNER_POST.body,
    tags: OWNER_POST.tag,
    action: 'publish',
  });
}

export default async function globalSetup() {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  const log = fs.createWriteStream(path.join(ARTIFACTS, 'server.log'));
  const binary = serverBinary();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'quire-e2e-'));
  log.write(`[e2e] ${binary} serve, data in ${dataDir}\n`);

  const { child, baseUrl } = await startServer(binary, dataDir, log);
  // If the runner dies without running the teardown, do not leave the server behind.
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);

  const stop = async () => {
    process.off('exit', killOnExit);
    // 'close' comes after 'exit', once the server's output is all read:
    // the log may end only then.
    const closed = new Promise((resolve) => child.once('close', resolve));
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      // A graceful stop normally takes milliseconds; do not hang the run on it.
      await Promise.race([closed, sleep(5_000)]);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
    await Promise.race([closed, sleep(5_000)]);
    log.end();
    fs.rmSync(dataDir, { recursive: true, force: true });
  };

  try {
    await seedOwner(baseUrl);
  } catch (error) {
    await stop();
    throw error;
  }

  // Workers are started after global setup and inherit this environment;
  // playwright.config.ts reads it for `baseURL`.
  process.env[BASE_URL_ENV] = baseUrl;
  process.env[OUTBOX_ENV] = path.join(dataDir, 'outbox');
  // stderr, so that a reporter writing to stdout (--reporter=json) stays clean.
  process.stderr.write(`[e2e] ${binary} serving at ${baseUrl}\n`);
  return stop;
}
