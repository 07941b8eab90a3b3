import type { Command } from 'commander';
import type { Config } from './platform/config.js';
import type { Store } from './platform/db/database.js';

export interface CliContext {
  config: () => Config;
  withStore: <T>(fn: (store: Store) => Promise<T>) => Promise<T>;
  positiveInt: (v: string) => number;
}

// Commands of the feature modules (simulator, evaluations, batches, catalog, cache).
export function registerExtraCommands(_program: Command, _ctx: CliContext): void {}
