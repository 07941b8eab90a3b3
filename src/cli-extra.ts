import type { Command } from 'commander';
import type { Config } from './platform/config.js';
import type { Store } from './platform/db/database.js';

export interface CliContext {
  config: () => Config;
  withStore: <T>(fn: (store: Store) => Promise<T>) => Promise<T>;
  positiveInt: (v: string) => number;
}

// Commands of the feature modules (simulator, evaluations, batches, catalog, cache).
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
}
