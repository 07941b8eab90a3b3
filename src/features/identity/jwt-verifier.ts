import { createRemoteJWKSet, jwtVerify, SignJWT, errors as joseErrors, type JWTVerifyGetKey } from 'jose';
import { USER_ID_PATTERN } from './identity.types.js';

export interface JwtVerifier {
  verify(token: string): Promise<{ sub: string }>;
}

export interface JwtOptions {
  secret?: string;
  jwksUrl?: string;
  issuer?: string;
  audience?: string;
}

export class InvalidTokenError extends Error {}

// The algorithm list is pinned per key type: an HS256 secret never accepts RS/ES
// tokens and a JWKS never accepts HS256 (algorithm confusion), and `none` is never listed.
export function createJwtVerifier(opts: JwtOptions): JwtVerifier {
  let key: Uint8Array | JWTVerifyGetKey;
  let algorithms: string[];
  if (opts.jwksUrl) {
    key = createRemoteJWKSet(new URL(opts.jwksUrl), { timeoutDuration: 3000, cooldownDuration: 30_000 });
    algorithms = ['RS256', 'ES256'];
  } else if (opts.secret) {
    key = new TextEncoder().encode(opts.secret);
    algorithms = ['HS256'];
  } else {
    throw new Error('a JWT secret or JWKS URL is required');
  }
  return {
    async verify(token) {
      try {
        const { payload } = await jwtVerify(token, key as Uint8Array, {
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
        if (err instanceof InvalidTokenError) throw err;
        const reason = err instanceof joseErrors.JOSEError ? err.code : 'ERR_JWT_INVALID';
        throw new InvalidTokenError(reason);
      }
    },
  };
}

export async function signDevToken(secret: string, sub: string, ttlSec: number, opts: { issuer?: string; audience?: string } = {}): Promise<string> {
  let jwt = new SignJWT({}).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).setSubject(sub).setIssuedAt().setExpirationTime(`${ttlSec}s`);
  if (opts.issuer) jwt = jwt.setIssuer(opts.issuer);
  if (opts.audience) jwt = jwt.setAudience(opts.audience);
  return jwt.sign(new TextEncoder().encode(secret));
}
