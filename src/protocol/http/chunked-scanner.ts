/**
 * Incremental scanner for a chunked body (RFC 9112 §7.1). It does not decode:
 * the proxy forwards the bytes unchanged and only needs to know where the
 * body ends. Strict on line endings (CRLF only) and bounded in what it will
 * tolerate in chunk extensions and trailers.
 */
const MAX_SIZE_DIGITS = 12; // 16^12 bytes per chunk is far beyond any real body
const MAX_LINE_EXTRA = 4096; // chunk extensions / one trailer line
const MAX_TRAILER_BYTES = 16 * 1024;

const enum S {
  Size,
  SizeBws,
  Ext,
  SizeLf,
  Data,
  DataCr,
  DataLf,
  TrailerStart,
  Trailer,
  TrailerLf,
  FinalLf,
  Done,
  Error,
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  return -1;
}

/** Controls other than HTAB (CR is handled by the callers before this). */
function isCtl(c: number): boolean {
  return (c < 0x20 && c !== 0x09) || c === 0x7f;
}

export class ChunkedScanner {
  private state = S.Size;
  private size = 0;
  private digits = 0;
  private lineBytes = 0;
  private trailerBytes = 0;
  private remaining = 0;
  error: string | undefined;

  get done(): boolean {
    return this.state === S.Done;
  }

  /** Consume bytes of the body; returns how many of `buf` belong to it, or -1 when malformed. */
  feed(buf: Buffer): number {
    let i = 0;
    while (i < buf.length && this.state !== S.Done) {
      if (this.state === S.Data) {
        const n = Math.min(this.remaining, buf.length - i);
        this.remaining -= n;
        i += n;
        if (this.remaining === 0) this.state = S.DataCr;
        continue;
      }
      const c = buf[i]!;
      i++;
      if (!this.step(c)) {
        this.state = S.Error;
        return -1;
      }
    }
    return i;
  }

  private step(c: number): boolean {
    switch (this.state) {
      case S.Size: {
        const h = hexValue(c);
        if (h >= 0) {
          if (++this.digits > MAX_SIZE_DIGITS) return this.fail('chunk size too large');
          this.size = this.size * 16 + h;
          return true;
        }
        if (this.digits === 0) return this.fail('missing chunk size');
        if (c === 0x0d) return (this.state = S.SizeLf), true;
        this.lineBytes = 0;
        if (c === 0x3b) return (this.state = S.Ext), true;
        if (c === 0x20 || c === 0x09) return (this.state = S.SizeBws), true;
        return this.fail('invalid chunk size');
      }
      case S.SizeBws:
        // Whitespace after the size may only lead to ';' or the line end: "5 6" or "5 x" is not a size.
        if (c === 0x0d) return (this.state = S.SizeLf), true;
        if (c === 0x3b) return (this.state = S.Ext), true;
        if (c !== 0x20 && c !== 0x09) return this.fail('invalid chunk size');
        if (++this.lineBytes > MAX_LINE_EXTRA) return this.fail('chunk extension too long');
        return true;
      case S.Ext:
        if (c === 0x0d) return (this.state = S.SizeLf), true;
        if (isCtl(c)) return this.fail('bare LF or control character in chunk extension');
        if (++this.lineBytes > MAX_LINE_EXTRA) return this.fail('chunk extension too long');
        return true;
      case S.SizeLf:
        if (c !== 0x0a) return this.fail('chunk size line must end with CRLF');
        if (this.size === 0) {
          this.state = S.TrailerStart;
        } else {
          this.remaining = this.size;
          this.state = S.Data;
        }
        this.size = 0;
        this.digits = 0;
        return true;
      case S.DataCr:
        return c === 0x0d ? ((this.state = S.DataLf), true) : this.fail('chunk data not followed by CRLF');
      case S.DataLf:
        return c === 0x0a ? ((this.state = S.Size), true) : this.fail('chunk data not followed by CRLF');
      case S.TrailerStart:
        if (c === 0x0d) return (this.state = S.FinalLf), true;
        this.state = S.Trailer;
        this.lineBytes = 0;
        return this.trailerByte(c);
      case S.Trailer:
        if (c === 0x0d) return (this.state = S.TrailerLf), true;
        return this.trailerByte(c);
      case S.TrailerLf:
        return c === 0x0a ? ((this.state = S.TrailerStart), true) : this.fail('trailer line must end with CRLF');
      case S.FinalLf:
        return c === 0x0a ? ((this.state = S.Done), true) : this.fail('chunked body must end with CRLF');
      default:
        return false;
    }
  }

  private trailerByte(c: number): boolean {
    if (isCtl(c)) return this.fail('bare LF or control character in trailer');
    if (++this.lineBytes > MAX_LINE_EXTRA || ++this.trailerBytes > MAX_TRAILER_BYTES) return this.fail('trailer too large');
    return true;
  }

  private fail(message: string): false {
    this.error = message;
    return false;
  }
}
