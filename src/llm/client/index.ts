export { createAnthropicClient } from './anthropic-client.js';
export { LlmError, isLlmError, type LlmErrorCode } from './llm-error.js';
export { loadApiKey, fingerprint, scrubSecrets, type KeyEnv } from './key-source.js';
export { emptyUsage, addUsage } from './usage.js';
export type * from './types.js';
