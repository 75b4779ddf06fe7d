/**
 * For the link tests: two sessions over a real mutually authenticated TLS
 * connection on loopback, and a raw TLS peer that writes frames by hand
 * (to play a hostile or broken peer).
 */
import type { AddressInfo } from 'node:net';
import type { Server, TLSSocket } from 'node:tls';
import { FrameReader, type Frame } from '../../src/protocol/link/codec.js';
import { createLinkIdentity, dialLinkTls, linkTlsServer, type LinkIdentity } from '../../src/link/identity.js';
import { LinkSession, type LinkOptions } from '../../src/link/session.js';

let ids: { ingress: LinkIdentity; exit: LinkIdentity } | undefined;
export function identities(): { ingress: LinkIdentity; exit: LinkIdentity } {
  ids ??= { ingress: createLinkIdentity('test ingress'), exit: createLinkIdentity('test exit') };
  return ids;
}

type SideOptions = Omit<LinkOptions, 'dialled'>;

/** A listening exit side: each accepted connection becomes a session handed to `onSession`. */
export async function exitServer(opts: SideOptions, onSession: (s: LinkSession) => void): Promise<{ server: Server; port: number }> {
  const { ingress, exit } = identities();
  const server = linkTlsServer({ identity: exit, pinned: [ingress.fingerprint] }, (sock) => onSession(new LinkSession(sock, { ...opts, dialled: false, name: 'exit side' })));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, port: (server.address() as AddressInfo).port };
}

export interface Pair {
  readonly client: LinkSession;
  readonly server: LinkSession;
  close(): Promise<void>;
}

export async function linkPair(client: SideOptions = {}, server: SideOptions = {}): Promise<Pair> {
  const { ingress, exit } = identities();
  let resolveServer!: (s: LinkSession) => void;
  const serverSession = new Promise<LinkSession>((r) => (resolveServer = r));
  const listening = await exitServer(server, resolveServer);
  const sock = await dialLinkTls({ host: '127.0.0.1', port: listening.port, identity: ingress, pinned: [exit.fingerprint] });
  const c = new LinkSession(sock, { ...client, dialled: true, name: 'ingress side' });
  const s = await serverSession;
  return {
    client: c,
    server: s,
    close: async () => {
      c.destroy();
      s.destroy();
      await new Promise<void>((r) => listening.server.close(() => r()));
    },
  };
}

/** A peer that speaks frames by hand; `frames` collects what the session sent it. */
export async function rawPeer(port: number): Promise<{ socket: TLSSocket; frames: Frame[]; closed: Promise<void> }> {
  const { ingress, exit } = identities();
  const socket = await dialLinkTls({ host: '127.0.0.1', port, identity: ingress, pinned: [exit.fingerprint] });
  const frames: Frame[] = [];
  const reader = new FrameReader();
  socket.on('data', (chunk: Buffer) => {
    const f = reader.push(chunk);
    if (Array.isArray(f)) frames.push(...f);
  });
  socket.on('error', () => undefined);
  const closed = new Promise<void>((r) => socket.once('close', () => r()));
  return { socket, frames, closed };
}
