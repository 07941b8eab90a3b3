import { createRemoteJWKSet, jwtVerify, SignJWT, errors as joseErrors, type JWTPayload, type JWTVerifyGetKey, type JWTVerifyOptions } from 'jose';
import { ServiceUnavailableError } from '../../platform/errors.js';
import { USER_ID_PATTERN } from './identity.types.js';

export interface JwtVerifier {
  verify(token: string): Promise<{ sub: string }>;
}

export interface JwtOptions {
  secret?: string;
  // Accepted too, never signed with: the secret a rotation is replacing.
  previousSecret?: string;
  jwksUrl?: string;
  issuer?: string;
  audience?: string;
}

export class InvalidTokenError extends Error {}

// The JWKS could not be fetched or used (the identity provider is down, slow or answers
// garbage). No fault of the caller's: a 401 would make apps throw away good tokens, and
// counted as a failed credential it would lock a shared address out of the API.
export class SigningKeysUnavailableError extends ServiceUnavailableError {
  constructor() {
    super("The identity provider's signing keys (TUTORGATE_JWKS_URL) cannot be fetched; try again shortly.");
  }
}

// The algorithm list is pinned per key type: an HS256 secret never accepts RS/ES
// tokens and a JWKS never accepts HS256 (algorithm confusion), and `none` is never listed.
export function createJwtVerifier(opts: JwtOptions): JwtVerifier {
  let keys: (Uint8Array | JWTVerifyGetKey)[];
  let algorithms: string[];
  if (opts.jwksUrl) {
    // A token naming a key the set lacks refetches it (at most every 30 s); the set is read
    // again at least every 10 minutes. Key rotation at the provider relies on both
    // (docs/operations.md, "Rotate the JWT secret or signing keys").
    const remote = createRemoteJWKSet(new URL(opts.jwksUrl), { timeoutDuration: 3000, cooldownDuration: 30_000, cacheMaxAge: 600_000 });
    const key: JWTVerifyGetKey = async (header, token) => {
      try {
        return await remote(header, token);
      } catch (err) {
        // Only these are the token's fault: the set has no key (or several) for its kid and alg.
        if (err instanceof joseErrors.JWKSNoMatchingKey || err instanceof joseErrors.JWKSMultipleMatchingKeys || err instanceof joseErrors.JOSENotSupported) throw err;
        throw new SigningKeysUnavailableError();
      }
    };
    keys = [key];
    algorithms = ['RS256', 'ES256'];
  } else if (opts.secret) {
    keys = [opts.secret, ...(opts.previousSecret ? [opts.previousSecret] : [])].map((s) => new TextEncoder().encode(s));
    algorithms = ['HS256'];
  } else {
    throw new Error('a JWT secret or JWKS URL is required');
  }
  return {
    async verify(token) {
      try {
        const payload = await verifyWithAny(token, keys, {
          algorithms,
          requiredClaims: ['exp', 'sub'],
          ...(opts.issuer ? { issuer: opts.issuer } : {}),
          ...(opts.audience ? { audience: opts.audience } : {}),
          clockTolerance: 5,
        });
        // The same id shape the admin API accepts, so every provisioned user can be managed.
        if (typeof payload.sub !== 'string' || !USER_ID_PATTERN.test(payload.sub)) throw new InvalidTokenError('token has no usable subject');
        return { sub: payload.sub };
      } catch (err) {
        if (err instanceof InvalidTokenError || err instanceof SigningKeysUnavailableError) throw err;
        const reason = err instanceof joseErrors.JOSEError ? err.code : 'ERR_JWT_INVALID';
        throw new InvalidTokenError(reason);
      }
    },
  };
}

// Keys in order; the next is tried only when the signature did not match, so a token signed
// with the previous secret is still held to exp, iss and aud, and its error is its own.
async function verifyWithAny(token: string, keys: (Uint8Array | JWTVerifyGetKey)[], options: JWTVerifyOptions): Promise<JWTPayload> {
  for (let i = 0; ; i++) {
    try {
      return (await jwtVerify(token, keys[i] as Uint8Array, options)).payload;
    } catch (err) {
      if (i + 1 < keys.length && err instanceof joseErrors.JWSSignatureVerificationFailed) continue;
      throw err;
    }
  }
}

export async function signDevToken(secret: string, sub: string, ttlSec: number, opts: { issuer?: string; audience?: string } = {}): Promise<string> {
  let jwt = new SignJWT({}).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).setSubject(sub).setIssuedAt().setExpirationTime(`${ttlSec}s`);
  if (opts.issuer) jwt = jwt.setIssuer(opts.issuer);
  if (opts.audience) jwt = jwt.setAudience(opts.audience);
  return jwt.sign(new TextEncoder().encode(secret));
}
