// No cookie plugin is installed, so the Cookie header is parsed here. Browsers and
// proxies send odd things (repeated names, stray spaces, quoted values, junk pairs
// without "="); none of that may throw, and the first occurrence of a name wins, as
// in RFC 6265 §5.4 where the cookie with the longest path is listed first.
export function parseCookieHeader(header: string | string[] | undefined): Map<string, string> {
  const out = new Map<string, string>();
  const text = Array.isArray(header) ? header.join('; ') : header;
  if (!text || text.length > 16_384) return out;
  for (const part of text.split(';')) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    const name = part.slice(0, eq).trim();
    let value = part.slice(eq + 1).trim();
    if (!name || out.has(name)) continue;
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    try {
      value = decodeURIComponent(value);
    } catch {
      continue; // a malformed escape makes this one pair unusable, not the header
    }
    out.set(name, value);
  }
  return out;
}

export interface CookieOptions {
  maxAgeSec: number; // 0 expires the cookie
  secure: boolean;
}

// Always HttpOnly (scripts never need the session), SameSite=Strict (no cross-site
// request carries it) and Path=/ (the API under /v1 reads it too).
export function serializeSessionCookie(name: string, value: string, opts: CookieOptions): string {
  const parts = [`${name}=${encodeURIComponent(value)}`, 'Path=/', 'HttpOnly', 'SameSite=Strict', `Max-Age=${Math.max(0, Math.floor(opts.maxAgeSec))}`];
  if (opts.maxAgeSec <= 0) parts.push('Expires=Thu, 01 Jan 1970 00:00:00 GMT');
  if (opts.secure) parts.push('Secure');
  return parts.join('; ');
}
