import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type RequestListener } from 'node:http';
import type { AddressInfo } from 'node:net';
import { AdminClient, AdminError } from './admin-client.js';

async function withServer(handler: RequestListener, timeoutMs: number, run: (client: AdminClient) => Promise<void>): Promise<void> {
  const server = createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    await run(new AdminClient(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, 't', timeoutMs));
  } finally {
    server.closeAllConnections();
    server.close();
  }
}

test('a control plane that breaks off halfway through its answer is one AdminError line, not a stack trace', async () => {
  // Headers and part of the body, then the connection closes: the body read fails, with no clock involved.
  await withServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': '100' });
    res.write('{"customers":', () => res.socket?.destroy());
  }, 15_000, async (client) => {
    await assert.rejects(client.request('GET', '/v1/customers'), (err: unknown) =>
      err instanceof AdminError && /stopped answering/.test(err.message) && !err.message.includes('\n'));
  });
});

test('a control plane that stalls is one AdminError line, not a stack trace', async () => {
  // Where the 200 ms deadline falls (before the headers on a loaded machine, or in the body) decides
  // which of the two messages it is; either way it is one line, never an unhandled rejection.
  await withServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': '100' });
    res.write('{"customers":');
  }, 200, async (client) => {
    await assert.rejects(client.request('GET', '/v1/customers'), (err: unknown) =>
      err instanceof AdminError && /^the control plane at .* stopped answering|^cannot reach the control plane/.test(err.message) && !err.message.includes('\n'));
  });
});
