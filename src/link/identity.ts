/**
 * Mutual TLS for links without a public CA: each side has a self-signed
 * certificate and knows the peer's by its SHA-256 fingerprint (issued and
 * rotated through the control plane later; issue 19). Chain validation is
 * off on purpose — a self-signed certificate has no chain — and replaced by
 * the pin check, which runs before a single link byte is written or read.
 */
import { execFileSync } from 'node:child_process';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { createFileAtomic } from '../shared/state-file.js';
import { FINGERPRINT_PATTERN, normalizeFingerprint } from '../shared/fingerprint.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Socket } from 'node:net';
import { connect as tlsConnect, createServer, type ConnectionOptions, type Server, type TLSSocket } from 'node:tls';
import { linkSlabReads } from '../shared/net/link-reads.js';

export const LINK_ALPN = 'hopgate-link/1';

export interface LinkIdentity {
  readonly key: string;
  readonly cert: string;
  /** SHA-256 of the certificate, 'AB:CD:…' (what the peer pins). */
  readonly fingerprint: string;
}

/** A fresh EC P-256 key and self-signed certificate (openssl, like src/cli/tls-cert.ts; kept in memory). */
export function createLinkIdentity(commonName: string): LinkIdentity {
  if (!/^[A-Za-z0-9_. -]{1,64}$/.test(commonName)) throw new RangeError(`link identity: bad name '${commonName}'`);
  const dir = mkdtempSync(join(tmpdir(), 'hopgate-link-id-'));
  try {
    const key = join(dir, 'key.pem');
    const cert = join(dir, 'cert.pem');
    execFileSync(
      'openssl',
      ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert, '-days', '825', '-subj', `/CN=${commonName}`],
      { stdio: 'ignore' },
    );
    const certPem = readFileSync(cert, 'utf8');
    return { key: readFileSync(key, 'utf8'), cert: certPem, fingerprint: fingerprintOf(certPem) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The one file in a state dir holding a node's link key and certificate (PEM, key first). */
export const LINK_IDENTITY_FILE = 'link-identity.pem';

/**
 * This node's link identity from `dir`, made on first start. Key and
 * certificate live in one file created atomically (hard link into place), so
 * two processes starting together (cluster workers) end up with the same
 * identity: the loser of the race reads the winner's.
 */
export function loadOrCreateLinkIdentity(dir: string, commonName: string): LinkIdentity {
  const file = join(dir, LINK_IDENTITY_FILE);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    const fresh = createLinkIdentity(commonName);
    createFileAtomic(file, fresh.key + fresh.cert, 0o600);
    text = readFileSync(file, 'utf8');
  }
  return parseIdentityPem(text, file);
}

/** This node's identity in `dir` as it is on disk, or undefined when there is none: a read that never makes one. */
export function readLinkIdentity(dir: string): LinkIdentity | undefined {
  return readIdentityFile(join(dir, LINK_IDENTITY_FILE));
}

/** A staged next identity (a key rotation, docs/EXITS.md "Link keys"): made by `hopgate link-key next`. */
export const NEXT_LINK_IDENTITY_FILE = 'link-identity.next.pem';

/** The next identity staged in `dir`, or undefined. */
export function readNextLinkIdentity(dir: string): LinkIdentity | undefined {
  return readIdentityFile(join(dir, NEXT_LINK_IDENTITY_FILE));
}

function readIdentityFile(file: string): LinkIdentity | undefined {
  try {
    return parseIdentityPem(readFileSync(file, 'utf8'), file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** Stage a next identity in `dir` (kept when one is staged already): peers pin it beside the current one. */
export function stageNextLinkIdentity(dir: string, commonName: string): LinkIdentity {
  const have = readNextLinkIdentity(dir);
  if (have) return have;
  const fresh = createLinkIdentity(commonName);
  createFileAtomic(join(dir, NEXT_LINK_IDENTITY_FILE), fresh.key + fresh.cert, 0o600);
  return readNextLinkIdentity(dir)!;
}

/**
 * The staged next identity becomes the current one (one rename: a process reading the
 * file sees the old or the new identity, never half of one). Undefined: none staged.
 */
export function promoteNextLinkIdentity(dir: string): LinkIdentity | undefined {
  const next = readNextLinkIdentity(dir);
  if (!next) return undefined;
  renameSync(join(dir, NEXT_LINK_IDENTITY_FILE), join(dir, LINK_IDENTITY_FILE));
  return next;
}

/**
 * A node's identity file, read again when it changed (a promoted key is a new
 * file): what a process dials or serves with after `hopgate link-key promote`,
 * without a restart. A stat per call; callers call it per new link, not per byte.
 *
 * Once running, a file that changed into something unusable (garbage, a key that
 * does not match its certificate, the file gone) does not replace the identity in
 * force: links keep working on it, `onUnreadable` hears of each bad version once,
 * and the next good version is taken. Only the first read may make a new key.
 */
export class LinkIdentitySource {
  private cached: LinkIdentity;
  private stamp: string;

  constructor(
    readonly dir: string,
    commonName: string,
    private readonly onUnreadable?: (err: Error) => void,
  ) {
    this.cached = loadOrCreateLinkIdentity(dir, commonName);
    this.stamp = this.statStamp();
  }

  /** The identity in force now. */
  current(): LinkIdentity {
    const stamp = this.statStamp();
    if (stamp !== this.stamp) {
      // Remembered either way: a bad version is read (and reported) once, not at every dial.
      this.stamp = stamp;
      const file = join(this.dir, LINK_IDENTITY_FILE);
      try {
        this.cached = parseIdentityPem(readFileSync(file, 'utf8'), file);
      } catch (err) {
        const why = (err as NodeJS.ErrnoException).code === 'ENOENT' ? new Error(`${file}: gone`) : (err as Error);
        this.onUnreadable?.(new Error(`${why.message}; the key in force (${this.cached.fingerprint}) stays`));
      }
    }
    return this.cached;
  }

  /** The one to report: the current fingerprint, then a staged next one. */
  fingerprints(): string[] {
    const next = readNextLinkIdentity(this.dir);
    const cur = this.current().fingerprint;
    return next && next.fingerprint !== cur ? [cur, next.fingerprint] : [cur];
  }

  private statStamp(): string {
    try {
      const st = statSync(join(this.dir, LINK_IDENTITY_FILE));
      return `${st.ino}:${st.mtimeMs}:${st.size}`;
    } catch {
      return 'absent';
    }
  }
}

function parseIdentityPem(text: string, file: string): LinkIdentity {
  const key = /-----BEGIN (?:EC |)PRIVATE KEY-----[\s\S]+?-----END (?:EC |)PRIVATE KEY-----\n?/.exec(text)?.[0];
  const cert = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/.exec(text)?.[0];
  if (!key || !cert) throw new Error(`${file}: not a link identity (want a private key and a certificate, PEM)`);
  let x509: X509Certificate;
  let matches: boolean;
  try {
    x509 = new X509Certificate(cert);
    matches = x509.checkPrivateKey(createPrivateKey(key));
  } catch (err) {
    throw new Error(`${file}: not a link identity (${(err as Error).message})`, { cause: err });
  }
  // Checked here, not at the first TLS handshake: a mismatched pair would make every dial throw.
  if (!matches) throw new Error(`${file}: the private key does not match the certificate`);
  return { key, cert, fingerprint: x509.fingerprint256 };
}

/** A SHA-256 fingerprint as pinned in configurations: 32 hex bytes, colons optional. */
export { FINGERPRINT_PATTERN };

export function fingerprintOf(certPem: string): string {
  return new X509Certificate(certPem).fingerprint256;
}

/** Why the peer of `socket` is not one of `pinned`, or undefined when it is. */
export function peerPinError(socket: TLSSocket, pinned: readonly string[]): string | undefined {
  const fp = peerFingerprint(socket);
  if (fp === undefined) return 'the peer presented no certificate';
  if (!isPinned(fp, pinned)) return `the peer's certificate ${fp} is not pinned`;
  return undefined;
}

/** The SHA-256 fingerprint of the certificate the peer presented. */
export function peerFingerprint(socket: TLSSocket): string | undefined {
  const cert = socket.getPeerCertificate();
  return cert && cert.fingerprint256 ? cert.fingerprint256 : undefined;
}

/** The pins of a peer: its current fingerprint, and the next one during a key rotation; undefined: not pinned. */
export function pinsOf(current: string | undefined, next: string | undefined): string[] | undefined {
  if (current === undefined) return undefined;
  return next !== undefined ? [current, next] : [current];
}

/** Whether `fp` is one of `pinned` (case and colons aside). */
export function isPinned(fp: string, pinned: readonly string[]): boolean {
  const n = normalizeFingerprint(fp);
  return pinned.some((p) => normalizeFingerprint(p) === n);
}

export interface DialOptions {
  readonly host: string;
  readonly port: number;
  readonly identity: LinkIdentity;
  /** Fingerprints of the certificates this side accepts from the server. */
  readonly pinned: readonly string[];
  readonly alpn?: string;
  readonly timeoutMs?: number;
  /**
   * A connection already open to the link server (through proxies before it): TLS runs over it
   * instead of dialling host:port, which then only name the server in errors.
   */
  readonly socket?: Socket;
  /**
   * Read decrypted records into slabs reused once their DATA was written to the client
   * (shared/net/link-reads.ts). Only without `socket`: Node ignores `onread` over a given socket.
   */
  readonly slabReads?: boolean;
}

/** A TLS connection to a link server, both sides authenticated; rejects on a wrong pin. */
export function dialLinkTls(o: DialOptions): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const reads = o.slabReads && !o.socket ? linkSlabReads() : undefined;
    const socket = tlsConnect({
      ...(o.socket ? { socket: o.socket } : { host: o.host, port: o.port }),
      ...(reads ? ({ onread: reads.onread } as ConnectionOptions) : {}),
      key: o.identity.key,
      cert: o.identity.cert,
      ALPNProtocols: [o.alpn ?? LINK_ALPN],
      minVersion: 'TLSv1.3',
      rejectUnauthorized: false, // self-signed by design: the fingerprint pin below is the check
    });
    reads?.attach(socket);
    const timer = setTimeout(() => socket.destroy(new Error(`link TLS to ${o.host}:${o.port}: no handshake in ${o.timeoutMs ?? 10_000} ms`)), o.timeoutMs ?? 10_000);
    socket.once('error', (err: Error) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.once('secureConnect', () => {
      clearTimeout(timer);
      const why = peerPinError(socket, o.pinned);
      if (why) {
        socket.destroy();
        return reject(new Error(`link TLS to ${o.host}:${o.port} refused: ${why}`));
      }
      socket.removeAllListeners('error');
      resolve(socket);
    });
  });
}

export interface ListenOptions {
  readonly identity: LinkIdentity;
  /** Fingerprints of the client certificates this side accepts; a function is asked per connection (pins that change live). */
  readonly pinned: readonly string[] | (() => readonly string[]);
  readonly alpn?: string;
  /** A refused connection (wrong or missing certificate): for the log. */
  readonly onRefused?: (why: string) => void;
}

/** What a link server presents: its key and certificate (server.setSecureContext takes it on a rotation). */
export function linkTlsContext(identity: LinkIdentity): { key: string; cert: string; minVersion: 'TLSv1.3'; requestCert: true; rejectUnauthorized: false } {
  return { key: identity.key, cert: identity.cert, minVersion: 'TLSv1.3', requestCert: true, rejectUnauthorized: false };
}

/** A TLS server whose 'secureConnection' sockets are already checked against the pins (others are closed). */
export function linkTlsServer(o: ListenOptions, onSocket: (s: TLSSocket) => void): Server {
  const server = createServer(
    {
      ...linkTlsContext(o.identity), // rejectUnauthorized false there: self-signed clients, the pin check below decides
      ALPNProtocols: [o.alpn ?? LINK_ALPN],
    },
    (socket) => {
      const why = peerPinError(socket, typeof o.pinned === 'function' ? o.pinned() : o.pinned);
      if (why) {
        o.onRefused?.(why);
        socket.destroy();
        return;
      }
      onSocket(socket);
    },
  );
  server.on('tlsClientError', (err: Error) => o.onRefused?.(err.message));
  return server;
}
