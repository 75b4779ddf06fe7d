/** Work packets (src/protocol/work-packet/) read off a socket in tests. */
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { parsePacket, type WorkPacket } from '../../src/protocol/work-packet/codec.js';
import { withTimeout } from './net.js';

/** Work packets read from `socket` one at a time (the next whole one, within 5 s). */
export function packetReader(socket: Socket): () => Promise<WorkPacket> {
  let buf = Buffer.alloc(0);
  const waiting: Array<() => void> = [];
  socket.on('data', (d: Buffer) => {
    buf = Buffer.concat([buf, d]);
    for (const w of waiting.splice(0)) w();
  });
  return async () => {
    for (;;) {
      const r = parsePacket(buf);
      if (r.kind === 'ok') {
        buf = buf.subarray(r.consumed);
        return r.value;
      }
      assert.notEqual(r.kind, 'error');
      await withTimeout(new Promise<void>((res) => waiting.push(res)), 5000, 'a work packet');
    }
  };
}
