/** The npm `socks` client, for what its promise API does not cover. */
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
