/**
 * readPins (src/exit/link-keys.ts) against a broken or hostile control plane: an
 * answer that never ends is cut at the size bound, not read whole into memory.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readPins } from '../../src/exit/link-keys.js';

it('an endless answer from the control plane is refused at the size bound, with bounded reading', async () => {
  let sent = 0;
  const chunk = Buffer.alloc(64 * 1024, 0x61);
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    const pump = (): void => {
      // Bounded: 64 MiB at most, far beyond the 1 MiB a pin list may take.
      while (sent < 64 << 20 && !res.destroyed) {
        sent += chunk.length;
        if (!res.write(chunk)) return void res.once('drain', pump);
      }
      res.end();
    };
    pump();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const { port } = server.address() as AddressInfo;
    await assert.rejects(readPins(`http://127.0.0.1:${port}`, 'hgel_x'), /answer over/);
    assert.ok(sent < 16 << 20, `the reader stopped early (${sent} bytes sent)`);
  } finally {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  }
});
