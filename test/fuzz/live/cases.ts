/**
 * Generators of live cases: a valid exchange of one client protocol (or a
 * misbehaving target behind a valid HTTP request), then broken the ways real
 * clients and servers break: garbage after a valid prefix, byte mutations,
 * slow drips, early closes, half-closes, resets, pipelined garbage,
 * oversized fields.
 */
import { mutate } from '../mutate.js';
import type { Rng } from '../rng.js';
import type { ClientStep, LiveScript, TargetStep } from './script.js';

const L = (b: Buffer): string => b.toString('latin1');
const bytes = (...xs: number[]): string => String.fromCharCode(...xs);

const SOCKS5_AUTH = `${bytes(5, 1, 2)}${bytes(1, 5)}{USER}${bytes(14)}{PASS}`;
const socks5Connect = (port16: string): string => `${bytes(5, 1, 0, 1, 127, 0, 0, 1)}${port16}`;
const socks5DomainConnect = (port16: string): string => `${bytes(5, 1, 0, 3, 9)}localhost${port16}`;

/** The valid byte streams a client would send, pipelined (each ends where the payload would begin). */
function validClientStream(rng: Rng): string {
  switch (rng.int(9)) {
    case 0:
      return `${SOCKS5_AUTH}${socks5Connect('{ECHO16}')}hello through socks5`;
    case 1:
      return `${SOCKS5_AUTH}${socks5DomainConnect('{BAD16}')}GET / HTTP/1.1\r\nHost: x\r\n\r\n`;
    case 2:
      return `${bytes(4, 1)}{ECHO16}${bytes(127, 0, 0, 1)}{USER}:{PASS}${bytes(0)}hello socks4`;
    case 3:
      return `${bytes(4, 1)}{ECHO16}${bytes(0, 0, 0, 1)}{USER}:{PASS}${bytes(0)}localhost${bytes(0)}hello socks4a`;
    case 4:
      return `CONNECT 127.0.0.1:{ECHO} HTTP/1.1\r\nHost: 127.0.0.1:{ECHO}\r\nProxy-Authorization: Basic {AUTH}\r\n\r\nhello connect`;
    case 5:
      return `GET http://127.0.0.1:{BAD}/x HTTP/1.1\r\nHost: 127.0.0.1:{BAD}\r\nProxy-Authorization: Basic {AUTH}\r\n\r\nGET http://127.0.0.1:{BAD}/y HTTP/1.1\r\nHost: 127.0.0.1:{BAD}\r\nProxy-Authorization: Basic {AUTH}\r\n\r\n`;
    case 6:
      return `POST http://127.0.0.1:{BAD}/up HTTP/1.1\r\nHost: 127.0.0.1:{BAD}\r\nProxy-Authorization: Basic {AUTH}\r\nContent-Length: ${rng.pick([5, 1000, 100000])}\r\n\r\nhello`;
    case 7:
      return `POST http://127.0.0.1:{BAD}/up HTTP/1.1\r\nHost: 127.0.0.1:{BAD}\r\nProxy-Authorization: Basic {AUTH}\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n${rng.pick(['0\r\n\r\n', 'zz\r\n', '5\r\nab', 'fffffffffff\r\nx', '3;ext\r\nabc\r\n'])}`;
    default:
      return `${bytes(0x16, 3, 1, 0, 0x40)}${L(Buffer.alloc(0x40, 0x41))}`;
  }
}

/** The valid response a target would send; sometimes with a body that is lying about its length or framing. */
function validResponse(rng: Rng): string {
  const body = 'x'.repeat(rng.pick([0, 2, 100, 5000]));
  switch (rng.int(4)) {
    case 0:
      return `HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
    case 1:
      return `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`;
    case 2:
      return `HTTP/1.1 200 OK\r\n\r\n${body}`;
    default:
      return `HTTP/1.1 ${rng.pick([100, 204, 304, 407, 502])} X\r\n${'X-Pad: '.concat('a'.repeat(rng.pick([10, 9000, 20000])))}\r\n\r\n`;
  }
}

/** Cut `text` into writes with pauses: a slow drip, a few pieces, or all at once. */
function pieces(text: string, rng: Rng): ClientStep[] {
  const steps: ClientStep[] = [];
  const mode = rng.int(3);
  if (mode === 0 || text.length === 0) return [{ w: text }];
  const n = mode === 1 ? Math.min(text.length, 24) : rng.range(2, 5);
  let at = 0;
  for (let i = 0; i < n && at < text.length; i++) {
    const end = i === n - 1 ? text.length : Math.min(text.length, at + Math.max(1, mode === 1 ? 1 : rng.int(text.length / 2)));
    steps.push({ w: text.slice(at, end) });
    if (rng.chance(0.5)) steps.push({ wait: rng.range(1, mode === 1 ? 15 : 80) });
    at = end;
  }
  if (at < text.length) steps.push({ w: text.slice(at) });
  return steps;
}

function closing(rng: Rng): ClientStep[] {
  return rng.pick<ClientStep[]>([[], [{ end: true }], [{ reset: true }], [{ wait: 200 }, { end: true }], [{ wait: 300 }]]);
}

/** Placeholders survive mutation only by luck; protect them by mutating around them. */
function mutateText(text: string, rng: Rng, other: string): string {
  const parts = text.split(/(\{[A-Z0-9]+\})/);
  return parts.map((p) => (/^\{[A-Z0-9]+\}$/.test(p) || !rng.chance(0.35) ? p : L(mutate(Buffer.from(p, 'latin1'), rng, Buffer.from(other, 'latin1'))))).join('');
}

export function clientCase(rng: Rng): LiveScript {
  const valid = validClientStream(rng);
  let text: string;
  switch (rng.int(6)) {
    case 0: // a valid prefix, then garbage
      text = valid.slice(0, rng.int(valid.length + 1)) + L(rng.bytes(rng.range(1, 300)));
      break;
    case 1: // truncated (early close follows)
      text = valid.slice(0, rng.int(valid.length));
      break;
    case 2: // oversized: a field repeated far past any limit
      text = valid.slice(0, rng.int(valid.length)) + rng.pick(['A', '\xff', '0', 'X-A: b\r\n', '\x00']).repeat(rng.pick([300, 5000, 70_000]));
      break;
    case 3: // pipelined garbage after the whole exchange
      text = valid + L(rng.bytes(rng.range(1, 2000)));
      break;
    default:
      text = mutateText(valid, rng, validClientStream(rng));
  }
  return { kind: 'client', client: [...pieces(text, rng), ...closing(rng)] };
}

export function targetCase(rng: Rng): LiveScript {
  const response = validResponse(rng);
  let target: TargetStep[];
  switch (rng.int(7)) {
    case 0: // answers before the request
      target = [{ w: response }, { readHead: true }, { end: true }];
      break;
    case 1: // never answers
      target = [{ readHead: true }, { hang: true }];
      break;
    case 2: // truncated head or body, then close
      target = [{ readHead: true }, { w: response.slice(0, rng.int(response.length)) }, { end: true }];
      break;
    case 3: // reset mid-body
      target = [{ readHead: true }, { w: response.slice(0, rng.int(response.length)) }, { wait: rng.int(50) }, { reset: true }];
      break;
    case 4: // oversized head
      target = [{ readHead: true }, { w: `HTTP/1.1 200 OK\r\n${'X-Big: '.concat('b'.repeat(rng.pick([16_000, 70_000])))}\r\n\r\n` }, { end: true }];
      break;
    default: // mutated response
      target = [{ readHead: true }, { w: L(mutate(Buffer.from(response, 'latin1'), rng, Buffer.from(validResponse(rng), 'latin1'))) }, rng.pick<TargetStep>([{ end: true }, { reset: true }, { hang: true }])];
  }
  const request = rng.chance(0.8)
    ? `GET http://127.0.0.1:{BAD}/t HTTP/1.1\r\nHost: 127.0.0.1:{BAD}\r\nProxy-Authorization: Basic {AUTH}\r\n\r\n`
    : `${SOCKS5_AUTH}${socks5Connect('{BAD16}')}GET /t HTTP/1.1\r\nHost: x\r\n\r\n`;
  return { kind: 'target', client: [...pieces(request, rng), { wait: 300 }, ...closing(rng)], target };
}

export function liveCase(rng: Rng): LiveScript {
  return rng.chance(0.65) ? clientCase(rng) : targetCase(rng);
}
