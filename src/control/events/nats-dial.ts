/**
 * Dialing NATS for the control plane (events out, events/jetstream.ts; change
 * messages in, nats-requests/consumer.ts): the connection options both take,
 * one dial loop that a close can stop, and the stream each ensures.
 */
import { readFileSync } from 'node:fs';
import { connect, credsAuthenticator, type Authenticator, type JetStreamManager, type NatsConnection, type StreamConfig } from 'nats';
import type { Logger } from '../../shared/log.js';

export interface NatsDialOptions {
  /** nats://host:port (comma-separated for a cluster). */
  readonly url: string;
  /** A NATS credentials file (JWT + nkey seed), or user/password below. */
  readonly credsFile?: string;
  readonly user?: string;
  readonly pass?: string;
}

/** Between dials while NATS is down (the client's own reconnects once connected). */
export const RECONNECT_WAIT_MS = 250;

/** Read once, at start: a missing credentials file fails the start, as a bad flag does. */
export function natsAuthenticator(o: NatsDialOptions): Authenticator | undefined {
  return o.credsFile !== undefined ? credsAuthenticator(readFileSync(o.credsFile)) : undefined;
}

/**
 * Dial until connected or `closed()` (after that the client reconnects by itself,
 * and drain() stops it). Our loop, not the client's waitOnFirstConnect: that one
 * cannot be stopped, so a control plane closed while NATS was unreachable kept
 * dialing it. One dial is bounded by `timeoutMs`, so a close waits at most that long.
 * Undefined when closed first.
 */
export async function dialUntilClosed(
  o: NatsDialOptions,
  authenticator: Authenticator | undefined,
  p: { name: string; timeoutMs: number; closed: () => boolean; log?: Logger | undefined; downMessage: string },
): Promise<NatsConnection | undefined> {
  for (let failed = 0; !p.closed(); failed++) {
    if (failed > 0) await new Promise((r) => setTimeout(r, RECONNECT_WAIT_MS));
    if (p.closed()) return undefined;
    let nc: NatsConnection;
    try {
      nc = await connect({
        servers: o.url.split(','),
        timeout: p.timeoutMs,
        maxReconnectAttempts: -1,
        reconnectTimeWait: RECONNECT_WAIT_MS,
        name: p.name,
        ...(o.user !== undefined ? { user: o.user, pass: o.pass ?? '' } : {}),
        ...(authenticator ? { authenticator } : {}),
      });
    } catch (err) {
      if (failed === 0) p.log?.warn({ err: (err as Error).message }, p.downMessage);
      continue;
    }
    if (p.closed()) return void (await nc.close());
    return nc;
  }
  return undefined;
}

/** Create the stream unless it exists (an existing one is left as its operator configured it). */
export async function ensureStream(jsm: JetStreamManager, config: Partial<StreamConfig> & { name: string }): Promise<void> {
  try {
    await jsm.streams.info(config.name);
  } catch (err) {
    if (!/stream not found/i.test((err as Error).message)) throw err;
    await jsm.streams.add(config);
  }
}
