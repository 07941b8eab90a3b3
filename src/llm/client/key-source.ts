// Where the Anthropic API key comes from, and how it is shown (never in full) in logs and errors.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';

export interface KeyEnv {
  ANTHROPIC_API_KEY?: string | undefined;
  ANTHROPIC_API_KEY_FILE?: string | undefined;
}

/**
 * The file wins over the variable: rotation works by rewriting the file and sending SIGHUP,
 * and a stale variable left in the unit file must not shadow the new key.
 * Returns null when neither is set or the variable is blank. A named file that is empty throws,
 * like one that cannot be read: it is a rotation caught half-way (truncated, not yet written)
 * or a broken secret mount, not a request to switch the LLM off.
 */
export function loadApiKey(env: KeyEnv, readFile: (path: string) => string = (p) => readFileSync(p, 'utf8')): string | null {
  const file = env.ANTHROPIC_API_KEY_FILE?.trim();
  if (file) {
    let text: string;
    try {
      text = readFile(file);
    } catch (e) {
      // The path is not secret; the file's contents might be, so never echo them.
      const code = (e as NodeJS.ErrnoException).code ?? 'unknown';
      throw new Error(`cannot read ANTHROPIC_API_KEY_FILE ${file} (${code})`);
    }
    const key = text.trim();
    if (key === '') throw new Error(`ANTHROPIC_API_KEY_FILE ${file} is empty`);
    return checked(key, `ANTHROPIC_API_KEY_FILE ${file}`);
  }
  const key = env.ANTHROPIC_API_KEY?.trim();
  return key ? checked(key, 'ANTHROPIC_API_KEY') : null;
}

// A key is one run of visible ASCII. A file with a second line (two keys, a comment) or a
// space inside was taken whole: start-up and /readyz said ok, and every call then failed
// as an invalid header, answering from rules with nothing in the log.
function checked(key: string, where: string): string {
  if (!/^[\x21-\x7e]+$/.test(key)) throw new Error(`${where} holds more than one word or line, or characters no key has`);
  return key;
}

/** 'sk-ant-…9f2c (sha256:1a2b3c4d)': enough to tell keys apart, too little to use one. */
export function fingerprint(key: string): string {
  const hash = createHash('sha256').update(key).digest('hex').slice(0, 8);
  const prefix = key.startsWith('sk-ant-') ? 'sk-ant-' : '';
  // Short keys (tests, typos) would give away too large a share through their tail.
  const tail = key.length >= 20 ? key.slice(-4) : '';
  return `${prefix}…${tail} (sha256:${hash})`;
}

// Anything shaped like an Anthropic key, or a bearer token, even one we were not told about
// (an old key after rotation, a key echoed back by a proxy).
const KEY_LIKE = /sk-ant-[A-Za-z0-9_-]{4,}/g;
const BEARER = /(Bearer\s+)[A-Za-z0-9._~+/=-]{8,}/gi;
const X_API_KEY = /(x-api-key["']?\s*[:=]\s*["']?)[^\s"',}]{8,}/gi;

export function scrubSecrets(text: string, secrets: readonly (string | null | undefined)[] = []): string {
  let out = text;
  for (const s of secrets) {
    // Very short "secrets" would shred ordinary words; real keys are long.
    if (s && s.length >= 8) out = out.split(s).join('[redacted]');
  }
  return out.replace(KEY_LIKE, 'sk-ant-[redacted]').replace(BEARER, '$1[redacted]').replace(X_API_KEY, '$1[redacted]');
}

/**
 * SIGHUP: load the key again and hand it to the client. A file that cannot be read, is empty
 * or holds more than one key-shaped word keeps the current key (with an error line naming the file, never its contents): dropping it
 * would turn every LLM feature off without a word.
 */
export function reloadApiKey(
  llm: { setApiKey(key: string | null): void; keyFingerprint(): string | null },
  env: KeyEnv,
  logger: { info(o: object, m: string): void; error(o: object, m: string): void },
  readFile?: (path: string) => string,
): void {
  try {
    llm.setApiKey(loadApiKey(env, readFile));
    logger.info({ key: llm.keyFingerprint() }, 'anthropic key reloaded');
  } catch (err) {
    logger.error({ err: { message: (err as Error).message } }, 'key reload failed; keeping the current key');
  }
}
