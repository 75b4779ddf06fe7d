/**
 * A stand-in for the control plane's config stream (GET /v1/stream, NDJSON),
 * for configurations its API cannot express yet (reverse exits): a hello and a
 * snapshot on connect, then whatever deltas the test pushes; acks are taken.
 */
import { createServer, type ServerResponse } from 'node:http';
import type { ConfigObject, DeltaMessage, SnapshotMessage } from '../../src/shared/control-protocol.js';
import { listen0 } from './net.js';

export interface FakeStream {
  readonly url: string;
  /** Send a delta to every connected ingress (the next revision, from the current one). */
  push(delta: Omit<DeltaMessage, 'type' | 'revision' | 'from'>): number;
  close(): Promise<void>;
}

export async function startFakeStream(config: SnapshotMessage['config']): Promise<FakeStream> {
  let revision = 1;
  let current: ConfigObject = config;
  const streams = new Set<ServerResponse>();
  const line = (res: ServerResponse, m: object): boolean => res.write(JSON.stringify(m) + '\n');
  const server = createServer((req, res) => {
    if (req.method === 'POST') {
      req.resume();
      return void res.writeHead(204).end();
    }
    res.writeHead(200, { 'content-type': 'application/x-ndjson' });
    streams.add(res);
    res.on('close', () => streams.delete(res));
    line(res, { type: 'hello', node: 'fake-1', revision, pullToken: 'pull', heartbeatMs: 60_000, replica: 'fake' });
    line(res, { type: 'snapshot', revision, config: current });
  });
  const port = await listen0(server);
  return {
    url: `http://127.0.0.1:${port}`,
    push(delta) {
      const from = revision++;
      current = { ...current, ...(delta.settings ?? {}), ...(delta.exits ? { exits: delta.exits } : {}) };
      for (const res of streams) line(res, { type: 'delta', revision, from, ...delta });
      return revision;
    },
    async close() {
      for (const res of streams) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
