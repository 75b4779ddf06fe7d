/** The npm `socks` client, for what its promise API does not cover. */
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { SocksClient } from 'socks';

export type SocksEstablished = Awaited<ReturnType<typeof SocksClient.createConnection>>;

/** UDP ASSOCIATE: createConnection is for CONNECT only, so use the event API. */
export function socksAssociate(port: number, userId: string, password: string): Promise<SocksEstablished> {
  const client = new SocksClient({
    proxy: { host: '127.0.0.1', port, type: 5, userId, password },
    command: 'associate',
    destination: { host: '0.0.0.0', port: 0 },
    timeout: 5000,
  });
  return new Promise((resolve, reject) => {
    client.once('established', resolve);
    client.once('error', reject);
    client.connect();
  });
}

/** A SOCKS5 client's UDP side: its association, a send through it, and the replies it got. */
export interface SocksUdpCustomer {
  readonly assoc: SocksEstablished;
  /** One datagram to host:port through the association's relay. */
  send(host: string, port: number, text: string): void;
  /** Each reply as `host:port payload` (its source as the relay gave it; IPv6 compressed, as URLs spell it). */
  readonly replies: string[];
}

/**
 * UDP ASSOCIATE as `userId`, and a local UDP socket speaking through it. What it opens is handed to
 * `cleanup` (the test file's list of things to end).
 */
export async function socksUdpCustomer(port: number, userId: string, password: string, cleanup: (end: () => unknown) => void): Promise<SocksUdpCustomer> {
  const assoc = await socksAssociate(port, userId, password);
  cleanup(() => assoc.socket.destroy());
  const udp = createSocket('udp4');
  udp.bind(0, '127.0.0.1');
  await once(udp, 'listening');
  cleanup(() => udp.close());
  const replies: string[] = [];
  udp.on('message', (m) => {
    const f = SocksClient.parseUDPFrame(m);
    // The `socks` client spells IPv6 in full: compressed for comparing.
    const host = f.remoteHost.host.includes(':') ? new URL(`http://[${f.remoteHost.host}]/`).hostname.slice(1, -1) : f.remoteHost.host;
    replies.push(`${host}:${f.remoteHost.port} ${f.data.toString()}`);
  });
  const relay = assoc.remoteHost!;
  return {
    assoc,
    replies,
    send: (host, p, text) => udp.send(SocksClient.createUDPFrame({ remoteHost: { host, port: p }, data: Buffer.from(text) }), relay.port, '127.0.0.1'),
  };
}
