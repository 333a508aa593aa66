// The emails the site sends during a run. The server under test has no SMTP
// server, so its worker writes each email as an .eml file to
// DATA_DIR/outbox; global setup publishes that folder for the workers. A
// spec that needs a link from an email (every registration but the
// owner's) reads it from there, as a person would open their inbox.

import fs from 'node:fs';
import path from 'node:path';

import { OUTBOX_ENV } from './site';

const WAIT_MS = 10_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The path of the link starting with `prefix` (e.g. `/register/confirm/`)
 * in the newest email to `address` that has one, waiting for the server's
 * worker to send it.
 */
export async function emailedLink(address: string, prefix: string): Promise<string> {
  const dir = process.env[OUTBOX_ENV];
  if (!dir) throw new Error(`${OUTBOX_ENV} is not set: global setup sets it`);
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const link = newestLink(dir, address, prefix);
    if (link) return link;
    if (Date.now() > deadline) throw new Error(`no email to ${address} with a ${prefix} link in ${dir}`);
    await sleep(100);
  }
}

function newestLink(dir: string, address: string, prefix: string): string | undefined {
  if (!fs.existsSync(dir)) return undefined;
  const files = fs
    .readdirSync(dir)
    .filter((name) => name.endsWith('.eml'))
    .map((name) => path.join(dir, name))
    .map((file) => ({ file, written: fs.statSync(file).mtimeMs }))
    .sort((a, b) => b.written - a.written);
  for (const { file } of files) {
    // A file the worker is still writing has no link yet: the next look finds it.
    const eml = fs.readFileSync(file, 'utf8');
    const headers = eml.split(/\r?\n\r?\n/, 1)[0];
    if (/^To:\s*(.*)$/im.exec(headers)?.[1].trim() !== address) continue;
    for (const word of plainText(eml)?.split(/\s+/) ?? []) {
      if (!/^https?:\/\//.test(word)) continue;
      const url = new URL(word);
      if (url.pathname.startsWith(prefix)) return url.pathname + url.search;
    }
  }
  return undefined;
}

/** The decoded text/plain part of an email. */
function plainText(eml: string): string | undefined {
  const boundary = /boundary="([^"]+)"/.exec(eml)?.[1];
  const parts = boundary ? eml.split(`--${boundary}`) : [eml];
  for (const part of parts) {
    const [head, ...rest] = part.split(/\r?\n\r?\n/);
    if (!/content-type:\s*text\/plain/i.test(head)) continue;
    const body = rest.join('\n\n');
    const encoding = /content-transfer-encoding:\s*(\S+)/i.exec(head)?.[1].toLowerCase();
    if (encoding === 'base64') return Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('utf8');
    if (encoding === 'quoted-printable') {
      const bytes = body
        .replace(/=\r?\n/g, '')
        .replace(/=([0-9A-F]{2})/gi, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
      return Buffer.from(bytes, 'latin1').toString('utf8');
    }
    return body;
  }
  return undefined;
}
