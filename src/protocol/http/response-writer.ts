/** Responses the proxy itself writes (errors, challenges). */

export interface ProxyResponseOptions {
  readonly headers?: ReadonlyArray<readonly [string, string]>;
  readonly body?: string;
  readonly close?: boolean;
}

/**
 * Strip anything that could end a header line: reasons and values may carry client-supplied text.
 * Only printable ASCII survives: the head is written as latin1, which keeps just the low byte of
 * each UTF-16 unit, so e.g. U+010D U+010A would otherwise come out as CR LF.
 */
function clean(s: string): string {
  return s.replace(/[^\x20-\x7e]/g, ' ');
}

export function encodeProxyResponse(status: number, reason: string, opts: ProxyResponseOptions = {}): Buffer {
  const body = Buffer.from(opts.body ?? '', 'utf8');
  let head = `HTTP/1.1 ${status} ${clean(reason)}\r\n`;
  for (const [name, value] of opts.headers ?? []) head += `${clean(name)}: ${clean(value)}\r\n`;
  head += `Content-Length: ${body.length}\r\n`;
  head += opts.close ? 'Connection: close\r\n' : '';
  head += '\r\n';
  return Buffer.concat([Buffer.from(head, 'latin1'), body]);
}
