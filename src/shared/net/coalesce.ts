/**
 * Writes to a socket that gather a burst of full-size chunks into one writev (issue 19).
 *
 * A link stream hands its payload on as TLS records arrive: 16 KiB pieces, several per socket
 * read, and Node runs the relay once per piece. Written one by one, each piece is a send()
 * of its own to the client — on loopback the kernel's cost per call, not per byte, dominated
 * the ingress (docs/BENCHMARKS.md, "Link bulk and echo"). Full-size pieces are therefore
 * corked and sent together when the burst ends: at the first piece smaller than `full`
 * (written with them, at once), or at the end of this turn of the event loop (setImmediate),
 * whichever comes first. A small write — an echo, a request — is never held: it goes out
 * immediately, after any pieces gathered before it.
 */
import type { Socket } from 'node:net';

/** Bytes gathered before they go in one writev, and unsent bytes past which the writer is asked to wait (the socket's own mark is 16 KiB). */
export const COALESCE_LIMIT = 64 * 1024;

const kCorked = Symbol('hopgate.coalesce.corked');
type Coalescing = Socket & { [kCorked]?: boolean };

function uncork(s: Coalescing): void {
  if (!s[kCorked]) return;
  s[kCorked] = false;
  s.uncork();
}

/** Write `chunk` to `dst`; a chunk of at least `full` bytes may wait for the rest of its burst. Returns false when the writer should wait for 'drain'. */
export function writeCoalesced(dst: Socket, chunk: Buffer, full: number): boolean {
  const s = dst as Coalescing;
  if (chunk.length < full) {
    const ok = s.write(chunk);
    uncork(s);
    // A "wait" said while corked (past the socket's 16 KiB) is ours to judge once sent; 'drain' comes either way.
    return ok || s.writableLength < COALESCE_LIMIT;
  }
  if (!s[kCorked]) {
    s[kCorked] = true;
    s.cork();
    setImmediate(uncork, s);
  }
  s.write(chunk);
  // A read's worth gathered: it goes now, one writev (the burst may go on: a fresh one starts with the next piece).
  if (s.writableLength >= COALESCE_LIMIT) uncork(s);
  // While corked, the socket says "wait" past its 16 KiB mark: ours is what it could not send, past a read's worth.
  return s.writableLength < COALESCE_LIMIT;
}
