import { systemClock } from '../../platform/clock.js';
import type { Config } from '../../platform/config.js';
import type { Store } from '../../platform/db/database.js';
import { migrationStatus } from '../../platform/db/migrator.js';
import { createLogger } from '../../platform/logger.js';
import { loadPolicy } from '../../platform/policy.js';
import { GradingRepository } from '../grading/grading.repository.js';
import { CatalogProvider } from '../learning-path/catalog-provider.js';
import { LearnerModel } from '../learning-path/learner-model.js';
import { LearningRepository } from '../learning-path/learning.repository.js';
import { BudgetRepository } from '../usage/budget.repository.js';
import { RetentionService, type RetentionReport } from './retention.service.js';

// `tutorgate retention run [--dry-run]`: one run of the job the service schedules, with the
// policy of TUTORGATE_POLICY, on the store the command opened. The report goes to stdout as
// JSON, the run's log line to stderr. Safe while the service runs its own.
export async function runRetentionCli(config: Config, store: Store, dryRun: boolean): Promise<RetentionReport> {
  const policy = loadPolicy(config.TUTORGATE_POLICY);
  // The dry run is given the store unmigrated (cli-extra.ts): it counts on the schema it finds
  // only if that is the one this version deletes from.
  if (dryRun && (await migrationStatus(store.db)).some((m) => m.executedAt === undefined)) {
    throw new Error('the store has migrations to apply (tutorgate migrate up); a dry run changes nothing, the schema included');
  }
  const learning = new LearningRepository(store.db);
  const service = new RetentionService({
    policy: policy.retention,
    grading: new GradingRepository(store),
    learning,
    learners: new LearnerModel(learning, systemClock),
    budgets: new BudgetRepository(store.db),
    catalog: async () => (await new CatalogProvider(learning, systemClock).get()).catalog,
    clock: systemClock,
    logger: createLogger('info', process.stderr),
  });
  if (!service.configured()) process.stderr.write('tutorgate: the policy sets no retention period (retention: in TUTORGATE_POLICY): nothing is deleted\n');
  return service.run({ dryRun });
}
