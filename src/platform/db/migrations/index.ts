import type { Migration } from 'kysely';
import * as m0001 from './0001-identity.js';
import * as m0002 from './0002-usage.js';
import * as m0003 from './0003-flags.js';
import * as m0004 from './0004-learning.js';
import * as m0005 from './0005-grading.js';
import * as m0006 from './0006-identity-version.js';
import * as m0007 from './0007-identity-version-inserts.js';
import * as m0008 from './0008-review-indexes.js';
import * as m0009 from './0009-admin-sessions.js';
import * as m0010 from './0010-retention.js';
import * as m0011 from './0011-calibration-doubles.js';
import * as m0012 from './0012-shared-secrets.js';

// Listed explicitly (not read from disk) so the same code runs from src/ under tsx
// and from dist/. Expand/contract: a migration only adds; a later one removes what
// the code no longer reads, so rolling the code back one version never needs a restore.
export const migrations: Record<string, Migration> = {
  '0001-identity': m0001,
  '0002-usage': m0002,
  '0003-flags': m0003,
  '0004-learning': m0004,
  '0005-grading': m0005,
  '0006-identity-version': m0006,
  '0007-identity-version-inserts': m0007,
  '0008-review-indexes': m0008,
  '0009-admin-sessions': m0009,
  '0010-retention': m0010,
  '0011-calibration-doubles': m0011,
  '0012-shared-secrets': m0012,
};
