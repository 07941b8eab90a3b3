export { startSimulator } from './server.js';
export { KNOWN_MODELS } from './models.js';
export { runSimulatorCli } from './cli.js';
export { generateFromSchema } from './structured-output.js';
export type {
  ChargeRecord,
  Fault,
  FaultControl,
  RecordedRequest,
  ScriptControl,
  ScriptedResponse,
  ScriptMatcher,
  Simulator,
  SimulatorOptions,
  SimulatorStats,
  SimStopReason,
  StatusFaultCode,
  UsageOverride,
} from './types.js';
