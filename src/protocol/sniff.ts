/** Decide the client's protocol from its first byte (GOST `handler/auto` style). */
export type SniffedProtocol = 'socks5' | 'socks4' | 'tls' | 'http';

export function sniffProtocol(firstByte: number): SniffedProtocol {
  switch (firstByte) {
    case 0x05:
      return 'socks5';
    case 0x04:
      return 'socks4';
    case 0x16: // TLS handshake record
      return 'tls';
    default:
      return 'http';
  }
}
