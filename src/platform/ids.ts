import { randomBytes, randomUUID } from 'node:crypto';

// Every generated id comes from here, so the format is decided once.
export function newId(prefix: string): string {
  return `${prefix}_${randomUUID().replaceAll('-', '')}`;
}

export function randomToken(bytes: number): string {
  return randomBytes(bytes).toString('base64url');
}
