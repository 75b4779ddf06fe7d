/**
 * Incremental scanner for a chunked body (RFC 9112 §7.1). It does not decode:
 * the proxy forwards the bytes unchanged and only needs to know where the
 * body ends. The next hop parses the same bytes, so wherever two parsers
 * could disagree on where a chunk ends (request smuggling) this one refuses:
 * CRLF only (no bare LF, although §2.2 lets a recipient accept one), a size of
 * hex digits only (no sign, no 0x, no overflow), whitespace after the size
 * only before a chunk extension, and bounded extensions and trailers.
 */
const MAX_SIZE_DIGITS = 12; // significant digits: 16^12 bytes per chunk is far beyond any real body
const MAX_SIZE_CHARS = 16; // leading zeros included: the size line stays bounded
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

/** RFC 9110 §5.6.2 token characters. */
function isTchar(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || "!#$%&'*+-.^_`|~".includes(String.fromCharCode(c));
}

/** Controls other than HTAB (CR is handled by the callers before this). */
function isCtl(c: number): boolean {
  return (c < 0x20 && c !== 0x09) || c === 0x7f;
}

export class ChunkedScanner {
  private state = S.Size;
  private size = 0;
  private digits = 0;
  private chars = 0;
  private lineBytes = 0;
  private trailerBytes = 0;
  /** Within a trailer line: the field name is behind us. */
  private trailerValue = false;
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
          if (++this.chars > MAX_SIZE_CHARS) return this.fail('chunk size too large');
          if ((this.digits > 0 || h > 0) && ++this.digits > MAX_SIZE_DIGITS) return this.fail('chunk size too large');
          this.size = this.size * 16 + h;
          return true;
        }
        if (this.chars === 0) return this.fail('missing chunk size');
        if (c === 0x0d) return (this.state = S.SizeLf), true;
        this.lineBytes = 0;
        if (c === 0x3b) return (this.state = S.Ext), true;
        if (c === 0x20 || c === 0x09) return (this.state = S.SizeBws), true;
        return this.fail('invalid chunk size');
      }
      case S.SizeBws:
        // Whitespace after the size is BWS before a chunk extension's ';', nothing else:
        // "5 6", "5 x" and "5 \r\n" are not sizes (parsers differ on them).
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
        this.chars = 0;
        return true;
      case S.DataCr:
        return c === 0x0d ? ((this.state = S.DataLf), true) : this.fail('chunk data not followed by CRLF');
      case S.DataLf:
        return c === 0x0a ? ((this.state = S.Size), true) : this.fail('chunk data not followed by CRLF');
      case S.TrailerStart:
        if (c === 0x0d) return (this.state = S.FinalLf), true;
        this.state = S.Trailer;
        this.lineBytes = 0;
        this.trailerValue = false;
        return this.trailerByte(c);
      case S.Trailer:
        if (c === 0x0d) return this.trailerValue ? ((this.state = S.TrailerLf), true) : this.fail('trailer line is not a header field');
        return this.trailerByte(c);
      case S.TrailerLf:
        return c === 0x0a ? ((this.state = S.TrailerStart), true) : this.fail('trailer line must end with CRLF');
      case S.FinalLf:
        return c === 0x0a ? ((this.state = S.Done), true) : this.fail('chunked body must end with CRLF');
      default:
        return false;
    }
  }

  /**
   * A trailer line is a header field, `name: value`: anything else (a request line, say)
   * could be read by the next hop as the start of another message.
   */
  private trailerByte(c: number): boolean {
    if (isCtl(c)) return this.fail('bare LF or control character in trailer');
    if (++this.lineBytes > MAX_LINE_EXTRA || ++this.trailerBytes > MAX_TRAILER_BYTES) return this.fail('trailer too large');
    if (this.trailerValue) return true;
    if (c === 0x3a && this.lineBytes > 1) return (this.trailerValue = true);
    return isTchar(c) || this.fail('trailer line is not a header field');
  }

  private fail(message: string): false {
    this.error = message;
    return false;
  }
}
