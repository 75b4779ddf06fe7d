/**
 * The meaning of work packets on a work connection (docs/REVERSE-EXITS.md):
 * which properties each mode carries, built and checked here so that both
 * sides agree. Pure.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { isValidDomain, targetKind, type TargetAddress } from '../address.js';
import { EXIT_TARGET_CODES, type ErrorCode } from '../../shared/errors.js';
import { VERSION, encodePacket, type WorkPacket } from './codec.js';

/** What the ingress asks: a tunnel for a proxy customer, or a published site's request. */
export type Purpose = 'connect' | 'publish';

export interface Registration {
  readonly exit: string;
  readonly token: string;
  /**
   * The exit speaks links (issue 19): once accepted, this connection carries link frames
   * (src/protocol/link/codec.ts), one stream per tunnel. An ingress that does not answer
   * `link` in its acceptance (an older one) keeps it a work connection.
   */
  readonly link?: boolean;
}

export interface WorkRequest {
  readonly target: TargetAddress;
  readonly purpose: Purpose;
  /** Bytes for the target sent with the request (`direct-data`). */
  readonly early: Buffer;
  /** The ingress's rule for this exit, for the exit to apply to the address it resolves: only these networks… */
  readonly allowNets: readonly string[];
  /** …and never these. */
  readonly denyNets: readonly string[];
}

export interface RequestInput {
  readonly target: TargetAddress;
  readonly purpose: Purpose;
  readonly early?: Buffer | undefined;
  readonly allowNets?: readonly string[] | undefined;
  readonly denyNets?: readonly string[] | undefined;
}

export type WorkResult = { readonly ok: true; readonly bind: string } | { readonly ok: false; readonly code: string; readonly message: string };

/** exit → ingress: this connection offers itself as an idle work connection. */
export function registrationPacket(r: Registration, id = 0): Buffer {
  return encodePacket({ mode: 'empty', id, props: { exit: r.exit, token: r.token, link: r.link ? 1 : undefined } });
}

export function parseRegistration(p: WorkPacket): Registration | string {
  if (p.mode !== 'empty') return `expected an empty (registration) packet, got ${p.mode}`;
  const exit = p.props.get('exit');
  const token = p.props.get('token');
  if (!exit || !/^[A-Za-z0-9_.-]{1,64}$/.test(exit)) return 'registration without a valid exit id';
  if (token === undefined || token.length === 0) return 'registration without a token';
  return { exit, token, link: p.props.get('link') === '1' };
}

/** exit → ingress on an idle work connection: take this connection out of the pool (exit draining). */
export function withdrawPacket(): Buffer {
  return encodePacket({ mode: 'empty', props: { drain: 1 } });
}

/**
 * ingress → exit: registered; stay idle. Heartbeats come every `heartbeatMs`. With `link`
 * (the exit asked for one): link frames follow this packet both ways, starting with the preface.
 */
export function acceptedPacket(heartbeatMs: number, link = false): Buffer {
  return encodePacket({ mode: 'keepalive', props: { 'heartbeat-ms': heartbeatMs, link: link ? 1 : undefined } });
}

/** The props a link stream's OPEN carries for a reverse exit besides host and port: the request's purpose and the ingress's rule. */
export function linkOpenContext(r: Omit<RequestInput, 'target' | 'early'>): Record<string, string> {
  const out: Record<string, string> = { purpose: r.purpose };
  if (r.allowNets?.length) out['allow-nets'] = r.allowNets.join(',');
  if (r.denyNets?.length) out['deny-nets'] = r.denyNets.join(',');
  return out;
}

/** The exit's reading of a link OPEN: the same checks as a request packet's (bad host, port, networks, purpose). */
export function parseLinkOpen(host: string, port: number, context: ReadonlyMap<string, string>): WorkRequest | string {
  const props = new Map([...context, ['host', host], ['port', String(port)]]);
  return parseRequest({ version: VERSION, mode: 'request', id: 0, props, body: Buffer.alloc(0) });
}

export function heartbeatPacket(id: number, ack: boolean): Buffer {
  return encodePacket({ mode: 'heartbeat', id, props: ack ? { ack: 1 } : {} });
}

/** ingress → exit: connect to `target` (then bytes flow raw). With `early` bytes: a `direct-data` packet. */
export function requestPacket(id: number, r: RequestInput): Buffer {
  const { target, early } = r;
  return encodePacket({
    mode: early && early.length > 0 ? 'direct-data' : 'request',
    id,
    props: {
      host: target.host,
      port: target.port,
      purpose: r.purpose,
      'allow-nets': r.allowNets?.length ? r.allowNets.join(',') : undefined,
      'deny-nets': r.denyNets?.length ? r.denyNets.join(',') : undefined,
    },
    body: early,
  });
}

/** The ingress's rule in a UDP stream's OPEN (a reverse exit's; none for a forward exit): checked as a request's. */
export function parseLinkNets(context: ReadonlyMap<string, string>): { readonly allowNets: readonly string[]; readonly denyNets: readonly string[] } | string {
  const allowNets = netList(context.get('allow-nets'));
  if (typeof allowNets === 'string') return allowNets;
  const denyNets = netList(context.get('deny-nets'));
  if (typeof denyNets === 'string') return denyNets;
  return { allowNets, denyNets };
}

function netList(text: string | undefined): string[] | string {
  if (text === undefined || text === '') return [];
  const list = text.split(',');
  for (const n of list) if (!/^[0-9A-Fa-f:.]+(\/\d{1,3})?$/.test(n)) return `request with a bad network '${n.slice(0, 60)}'`;
  return list;
}

export function parseRequest(p: WorkPacket): WorkRequest | string {
  if (p.mode !== 'request' && p.mode !== 'direct-data') return `expected a request, got ${p.mode}`;
  const host = p.props.get('host') ?? '';
  const portText = p.props.get('port') ?? '';
  const port = /^\d{1,5}$/.test(portText) ? Number(portText) : NaN;
  if (!(port >= 1 && port <= 65535)) return `request with a bad port '${portText}'`;
  if (!isIPv4(host) && !isIPv6(host) && !isValidDomain(host)) return `request with a bad host '${host.slice(0, 80)}'`;
  const purpose = p.props.get('purpose') ?? 'connect';
  if (purpose !== 'connect' && purpose !== 'publish') return `request with unknown purpose '${purpose.slice(0, 20)}'`;
  const nets = parseLinkNets(p.props);
  if (typeof nets === 'string') return nets;
  return { target: { host, port, kind: targetKind(host) }, purpose, early: p.body, ...nets };
}

/** exit → ingress: the connect result (or, ingress → exit, a refused registration). */
export function responsePacket(id: number, result: WorkResult): Buffer {
  return encodePacket({
    mode: 'response',
    id,
    props: result.ok ? { status: 'ok', bind: result.bind } : { status: result.code, message: result.message.slice(0, 1000) },
  });
}

export function parseResponse(p: WorkPacket): WorkResult {
  const status = p.props.get('status') ?? '';
  if (status === 'ok') return { ok: true, bind: p.props.get('bind') ?? '' };
  return { ok: false, code: status || 'EXIT_UNREACHABLE', message: p.props.get('message') ?? '' };
}

/** An exit's connect result as one of our codes; anything else (its own failure, garbage) is an unusable exit. */
export function resultCode(status: string): ErrorCode {
  return EXIT_TARGET_CODES.has(status) ? (status as ErrorCode) : 'EXIT_UNREACHABLE';
}
