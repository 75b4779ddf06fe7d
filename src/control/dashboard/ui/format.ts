/** Numbers and times as the page prints them (pure: no DOM). */
export function bytes(n: number): string {
  if (!Number.isFinite(n)) return '–';
  const units = ['B', 'KB', 'MB', 'GB', 'TB', 'PB'];
  let i = 0;
  while (Math.abs(n) >= 1000 && i < units.length - 1) {
    n /= 1000;
    i++;
  }
  return (i === 0 ? String(n) : n.toFixed(1)) + ' ' + units[i];
}

export function ago(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return 'never';
  const t = Date.parse(iso);
  if (!Number.isFinite(t)) return iso;
  const s = Math.round((now - t) / 1000);
  if (s < 0) return 'just now';
  if (s < 120) return `${s} s ago`;
  if (s < 7200) return `${Math.round(s / 60)} min ago`;
  if (s < 172800) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} days ago`;
}

export function list(xs: readonly string[] | null | undefined): string {
  return xs && xs.length ? xs.join(', ') : '–';
}

export function splitList(s: string): string[] {
  return s.split(/[\s,]+/).filter(Boolean);
}

export function percent(used: number, of: number): string {
  return of > 0 ? `${((used / of) * 100).toFixed(1)} %` : '–';
}

/** A place filter (pool) as one line: country/state/city[/AS123]. */
export function placeText(p: { country?: string | null | undefined; state?: string | null | undefined; city?: string | null | undefined; asn?: number | null | undefined }): string {
  const parts = [p.country, p.state, p.city, p.asn ? `AS${p.asn}` : null].filter(Boolean);
  return parts.length ? parts.join(' / ') : '–';
}

/** Parses "de", "us/ny", "us/ny/new york", "de//berlin/AS3320" back into a pool. */
export function parsePlace(line: string): { country?: string; state?: string; city?: string; asn?: number } {
  const parts = line.split('/').map((s) => s.trim());
  const out: { country?: string; state?: string; city?: string; asn?: number } = {};
  const last = parts[parts.length - 1] ?? '';
  if (/^AS\d+$/i.test(last)) {
    out.asn = Number(last.slice(2));
    parts.pop();
  }
  const [country, state, city] = parts;
  if (country) out.country = country.toLowerCase();
  if (state) out.state = state;
  if (city) out.city = city;
  return out;
}
