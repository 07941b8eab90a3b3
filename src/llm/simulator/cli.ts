import { startSimulator } from './server.js';
import type { Simulator } from './types.js';

export async function runSimulatorCli(opts: { port: number; host?: string; latencyMs?: number }): Promise<Simulator> {
  // Nothing outside this process can read the request log or the charge list: keep neither,
  // so a long-running simulator holds no more memory than its prompt cache.
  const sim = await startSimulator({ port: opts.port, host: opts.host, latencyMs: opts.latencyMs, maxRecordedRequests: 0, maxRecordedCharges: 0 });
  console.log(`simulator listening on ${sim.url}`);
  const stop = (): void => {
    process.off('SIGTERM', stop);
    process.off('SIGINT', stop);
    void sim.close().then(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  return sim;
}
