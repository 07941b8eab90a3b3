import { readFile } from 'node:fs/promises';
import { InvalidArgumentError, type Command } from 'commander';
import { parse as parseYaml } from 'yaml';
import { ConfigError, type Config } from './platform/config.js';
import type { Store } from './platform/db/database.js';

export interface CliContext {
  config: () => Config;
  withStore: <T>(fn: (store: Store) => Promise<T>, opts?: { migrate?: boolean }) => Promise<T>;
  positiveInt: (v: string) => number;
}

// Commands of the feature modules (simulator, evaluations, batches, catalog, retention, cache).
// Each imports its module lazily, so `tutorgate token` does not load the simulator.
export function registerExtraCommands(program: Command, ctx: CliContext): void {
  program
    .command('simulate-anthropic')
    .description('serve the built-in simulator of the Anthropic Messages API (tests, demo, benchmarks; never production)')
    .option('--port <n>', 'port', ctx.positiveInt, 4010)
    .option('--host <host>', 'host', '127.0.0.1')
    .option('--latency-ms <n>', 'added latency per response', ctx.positiveInt, 0)
    .action(async (o: { port: number; host: string; latencyMs: number }) => {
      const { runSimulatorCli } = await import('./llm/simulator/cli.js');
      await runSimulatorCli({ port: o.port, host: o.host, latencyMs: o.latencyMs });
    });

  const evalCmd = program.command('eval').description('offline evaluations on public data sets');
  evalCmd
    .command('kt')
    .description('fit knowledge tracing on --train, predict each --test attempt before revealing it; prints {"auc","rmse","n"}')
    .requiredOption('--train <file>', 'tab-separated user_id item_id timestamp correct skill_id')
    .requiredOption('--test <file>', 'same format, other learners')
    .option('--predictions <file>', 'write user_id, item_id, correct, p per test row')
    .action(async (o: { train: string; test: string; predictions?: string }) => {
      const { evalKnowledgeTracing } = await import('./features/learning-path/kt/eval-kt.js');
      const r = await evalKnowledgeTracing({ trainFile: o.train, testFile: o.test, ...(o.predictions ? { predictionsOut: o.predictions } : {}) });
      console.log(JSON.stringify({ auc: r.auc, rmse: r.rmse, n: r.n }));
    });
  evalCmd
    .command('grading')
    .description('grade every answer of a SemEval-2013-style folder with the rules grader; prints {"accuracy","macroF1","n"}')
    .requiredOption('--data <dir>', 'folder of question XML files (2-way labels)')
    .option('--train <dir>', 'fit the grader threshold on this folder first')
    .option('--predictions <file>', 'write answer_id, gold, predicted per answer')
    .option('--anchor-folds <n>', "use other labelled answers of the same question as graded anchors, in n folds (0: reference answers only)", ctx.positiveInt, 10)
    .action(async (o: { data: string; train?: string; predictions?: string; anchorFolds: number }) => {
      const { evalGrading } = await import('./features/grading/eval-grading.js');
      const r = await evalGrading({ dataDir: o.data, anchorFolds: o.anchorFolds, ...(o.train ? { trainDir: o.train } : {}), ...(o.predictions ? { predictionsOut: o.predictions } : {}) });
      console.log(JSON.stringify({ accuracy: r.accuracy, macroF1: r.macroF1, n: r.n }));
    });

  program
    .command('grade-batch')
    .description('grade a class set through the Message Batches API (half price), with progress; resumes an interrupted run')
    .requiredOption('--file <file>', 'answers as .csv (header: id,question,answer) or .jsonl')
    .requiredOption('--rubric <id>', 'a stored rubric id')
    .option('--out <file>', 'results (.csv or .jsonl); default <file>.graded.jsonl')
    .option('--user <id>', 'whom the ledger bills for the batch', 'system:batch')
    .option('--poll-ms <n>', 'status poll interval', ctx.positiveInt, 2000)
    .action(async (o: { file: string; rubric: string; out?: string; user: string; pollMs: number }) => {
      const { startRuntime } = await import('./main.js');
      const { gradeBatch } = await import('./features/grading/grade-batch.js');
      const { UsageLedgerRepository } = await import('./features/usage/usage-ledger.repository.js');
      const { sharedBudgetLines } = await import('./features/usage/budget-policy.js');
      const { IdentityRepository } = await import('./features/identity/identity.repository.js');
      const { isServicePrincipal } = await import('./platform/db/while-user-stands.js');
      const rt = await startRuntime({ ...ctx.config(), LOG_LEVEL: 'warn' });
      try {
        // A user is billed by id: one that does not exist (a typo, or a learner since erased)
        // would be billed under an id no one has. Their results are booked to them while they
        // stand, or under their pseudonym if they are erased while the batch runs (ADR 0016).
        if (!isServicePrincipal(o.user) && !(await new IdentityRepository(rt.store.db).getUser(o.user))) {
          throw new InvalidArgumentError(`--user ${o.user} is not a user (nor a service principal, system:…): create the user first, or bill the batch to system:batch`);
        }
        const rubric = await rt.container.grading.service.rubric(o.rubric);
        const out = o.out ?? `${o.file}.graded.jsonl`;
        const r = await gradeBatch(o.file, rubric, out, {
          llm: rt.container.llm,
          metering: rt.container.metering,
          ledger: new UsageLedgerRepository(rt.store.db),
          progress: progressBar,
          notice: (line) => process.stderr.write(`\ntutorgate: ${line}\n`),
          sleep: (ms) => new Promise((res) => setTimeout(res, ms)),
          now: () => Date.now(),
          pollMs: o.pollMs,
          userId: o.user,
          budgetLines: (at) => sharedBudgetLines(rt.container.policy, 'grading', at),
          maxTokens: rt.container.policy.grading.maxTokens,
        });
        process.stderr.write('\n');
        console.log(JSON.stringify({ batchId: r.batchId ?? null, resumed: r.resumed, graded: r.rows.length, llm: r.rows.filter((x) => x.source === 'llm').length, missing: r.missing.length, out }));
        if (r.missing.length) {
          throw new Error(`${r.missing.length} answers got no result from batch ${r.batchId} (${r.missing.slice(0, 5).join(', ')}${r.missing.length > 5 ? ', …' : ''}): graded by rules and marked no_result in ${out}`);
        }
      } finally {
        await rt.stop();
      }
    });

  const catalog = program.command('catalog').description('manage the learning catalog');
  catalog
    .command('import')
    .argument('<file>', 'catalog as JSON or YAML')
    .description('validate (references, prerequisite cycles) and activate a catalog version')
    .action(async (file: string) => {
      const { CatalogProvider } = await import('./features/learning-path/catalog-provider.js');
      const { LearningRepository } = await import('./features/learning-path/learning.repository.js');
      const { systemClock } = await import('./platform/clock.js');
      const { decodeUtf8 } = await import('./platform/utf8-file.js');
      const text = decodeUtf8(file, await readFile(file));
      const raw: unknown = /\.ya?ml$/.test(file) ? parseYaml(text) : JSON.parse(text);
      await ctx.withStore(async (store) => {
        const c = await new CatalogProvider(new LearningRepository(store.db), systemClock).import(raw);
        console.log(JSON.stringify({ version: c.version, skills: c.skills.length, items: c.items.length }));
      });
    });

  program
    .command('kt-fit')
    .description("fit knowledge-tracing parameters on the store's own progress events (or --train FILE) and store them")
    .option('--train <file>', 'tab-separated attempts instead of the stored events')
    .action(async (o: { train?: string }) => {
      const { fitKnowledgeTracer } = await import('./features/learning-path/kt/fit-knowledge-tracer.js');
      const { readAttemptsTsv } = await import('./features/learning-path/kt/attempt.js');
      const { LearningRepository } = await import('./features/learning-path/learning.repository.js');
      const { CatalogProvider } = await import('./features/learning-path/catalog-provider.js');
      const { skillIndex } = await import('./features/learning-path/learner-model.js');
      const { systemClock } = await import('./platform/clock.js');
      await ctx.withStore(async (store) => {
        const repo = new LearningRepository(store.db);
        let rows;
        if (o.train) rows = await readAttemptsTsv(o.train);
        else {
          const skillsOf = skillIndex((await new CatalogProvider(repo, systemClock).get()).catalog);
          rows = (await repo.allEvents()).map((e) => ({ userId: e.user_id, itemId: e.item_id, skillIds: skillsOf(e.item_id), correct: e.correct === 1 }));
        }
        if (rows.length < 100) throw new Error(`only ${rows.length} attempts: too few to fit; keep the shipped prior`);
        const params = fitKnowledgeTracer(rows);
        await repo.putKtParams(JSON.stringify(params), systemClock.now());
        console.log(JSON.stringify({ attempts: rows.length, l2: params.l2, items: params.itemIds.length, skills: params.skillIds.length }));
      });
    });

  program
    .command('retention')
    .description("apply the policy's retention periods to learners' personal data")
    .command('run')
    .description('delete evaluations, progress events and recommendations older than their period (in batches); prints the count per kind')
    .option('--dry-run', 'count what would be deleted, delete nothing')
    .action(async (o: { dryRun?: boolean }) => {
      const { runRetentionCli } = await import('./features/retention/retention.cli.js');
      // A dry run changes nothing, the schema included: it is how an operator previews a run
      // before upgrading, and migration 0010 builds indexes on the three largest tables.
      await ctx.withStore(async (store) => console.log(JSON.stringify(await runRetentionCli(ctx.config(), store, o.dryRun ?? false))), { migrate: !o.dryRun });
    });

  program
    .command('cache-purge')
    .description('drop cached answers by tag (e.g. rubric:ID, feature:grading, catalog:VERSION, user:ID) on every instance (needs REDIS_URL)')
    .argument('<tags...>')
    .action(async (tags: string[]) => {
      const cfg = ctx.config();
      if (!cfg.REDIS_URL) throw new Error('without REDIS_URL each instance caches in its own memory: use POST /v1/admin/cache/invalidate on each instance');
      const { openRedis, whenRedisReady } = await import('./main.js');
      const { CACHE_PREFIX, createCacheManager } = await import('./features/cache/cache-manager.js');
      const { purgeTags } = await import('./features/cache/cache-key.js');
      const redis = openRedis(cfg.REDIS_URL);
      if (!(await whenRedisReady(redis, 5_000))) {
        redis.disconnect();
        throw new ConfigError('REDIS_URL: cannot connect to Redis within 5 s; nothing was purged');
      }
      const cache = createCacheManager({ redis, prefix: CACHE_PREFIX });
      try {
        console.log(JSON.stringify({ purged: await cache.invalidateTags(purgeTags(tags)) }));
      } finally {
        await cache.close();
        redis.disconnect();
      }
    });
}

function progressBar(done: number, total: number): void {
  const width = 30;
  const filled = total ? Math.round((done / total) * width) : 0;
  process.stderr.write(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total}`);
}
