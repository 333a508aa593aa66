// Images for upload tests, made in the test process (a browser without
// JavaScript cannot draw one) or in the page (where drops and pastes carry
// a File built there).

import { crc32, deflateSync } from 'node:zlib';

import type { Locator } from '@playwright/test';

/** An RGB PNG of a diagonal gradient, `width` × `height`. */
export function gradientPng(width: number, height: number): Buffer {
  const row = width * 3 + 1;
  const pixels = Buffer.alloc(row * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const at = y * row + 1 + x * 3;
      pixels[at] = (x * 255) / width;
      pixels[at + 1] = (y * 255) / height;
      pixels[at + 2] = 160;
    }
  }
  const chunk = (type: string, data: Buffer) => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body));
    return Buffer.concat([length, body, crc]);
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = 8; // bits per channel
  header[9] = 2; // RGB
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(pixels)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/** How files arrive in a text field: dropped on it, or pasted into it. */
export type Delivery = 'drop' | 'paste';

/**
 * Drops or pastes files made in the page into `field`, as a person dragging
 * them from their desktop or pasting a screenshot would: a PNG drawn on a
 * canvas for each name ending in .png, a text file for any other name.
 */
export async function deliverFiles(field: Locator, how: Delivery, names: string[]) {
  await field.evaluate(
    async (element, { how, names }) => {
      const files = await Promise.all(
        names.map(async (name, index) => {
          if (!name.endsWith('.png')) return new File(['just some words'], name, { type: 'text/plain' });
          const canvas = document.createElement('canvas');
          canvas.width = 320;
          canvas.height = 200;
          const context = canvas.getContext('2d')!;
          const fill = context.createLinearGradient(0, 0, 320, 200);
          fill.addColorStop(0, index % 2 ? '#0f766e' : '#1d4ed8');
          fill.addColorStop(1, '#f59e0b');
          context.fillStyle = fill;
          context.fillRect(0, 0, 320, 200);
          const blob = await new Promise<Blob>((resolve) => canvas.toBlob((b) => resolve(b!), 'image/png'));
          return new File([blob], name, { type: 'image/png' });
        }),
      );
      const data = new DataTransfer();
      for (const file of files) data.items.add(file);
      if (how === 'paste') {
        element.dispatchEvent(new ClipboardEvent('paste', { clipboardData: data, bubbles: true, cancelable: true }));
      } else {
        for (const type of ['dragenter', 'dragover', 'drop']) {
          element.dispatchEvent(new DragEvent(type, { dataTransfer: data, bubbles: true, cancelable: true }));
        }
      }
    },
    { how, names },
  );
}
