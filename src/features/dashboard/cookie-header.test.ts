import { describe, expect, it } from 'vitest';
import { parseCookieHeader, serializeSessionCookie } from './cookie-header.js';

describe('parseCookieHeader', () => {
  it('reads the session among other cookies, whatever the spacing', () => {
    const c = parseCookieHeader('theme=dark;tg_session=abc.def.ghi ;  lang=en');
    expect(c.get('tg_session')).toBe('abc.def.ghi');
    expect(c.get('lang')).toBe('en');
  });

  it('keeps the first of repeated names, as browsers list the most specific first', () => {
    expect(parseCookieHeader('tg_session=first; tg_session=second').get('tg_session')).toBe('first');
  });

  it('survives junk pairs, bad escapes and quoted values without throwing', () => {
    const c = parseCookieHeader('garbage; =novalue; bad=%E0%A4%A; tg_session="quoted"; empty=');
    expect(c.get('tg_session')).toBe('quoted');
    expect(c.has('bad')).toBe(false);
    expect(c.get('empty')).toBe('');
    expect(parseCookieHeader(undefined).size).toBe(0);
    expect(parseCookieHeader('').size).toBe(0);
  });

  it('joins a header sent as several lines', () => {
    expect(parseCookieHeader(['a=1', 'tg_session=x']).get('tg_session')).toBe('x');
  });

  it('ignores absurdly long headers rather than parsing them', () => {
    expect(parseCookieHeader('tg_session=x; ' + 'a=b; '.repeat(5000)).size).toBe(0);
  });
});

describe('serializeSessionCookie', () => {
  it('is HttpOnly, SameSite=Strict and site-wide; Secure only over https', () => {
    const plain = serializeSessionCookie('tg_session', 'v', { maxAgeSec: 60, secure: false });
    expect(plain).toBe('tg_session=v; Path=/; HttpOnly; SameSite=Strict; Max-Age=60');
    expect(serializeSessionCookie('tg_session', 'v', { maxAgeSec: 60, secure: true })).toMatch(/; Secure$/);
  });

  it('expires the cookie when clearing it', () => {
    expect(serializeSessionCookie('tg_session', '', { maxAgeSec: 0, secure: false })).toContain('Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT');
  });
});
