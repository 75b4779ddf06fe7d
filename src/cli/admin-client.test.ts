import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { AdminClient, AdminError } from './admin-client.js';

test('a control plane that stalls halfway through its answer is one AdminError line, not a stack trace', async () => {
  // Headers and part of the body, then nothing: the body read, not the request, hits the deadline.
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': '100' });
    res.write('{"customers":');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const client = new AdminClient(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, 't', 200);
    await assert.rejects(client.request('GET', '/v1/customers'), (err: unknown) => err instanceof AdminError && /stopped answering/.test((err as Error).message));
  } finally {
    server.closeAllConnections();
    server.close();
  }
});
