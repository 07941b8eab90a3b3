import type { JsonObject, ScriptControl, ScriptMatcher, ScriptedResponse } from './types.js';

export class Script implements ScriptControl {
  private queue: ScriptedResponse[] = [];
  private rules: Array<{ match: ScriptMatcher; resp: ScriptedResponse }> = [];

  enqueue(resp: ScriptedResponse): void {
    this.queue.push(resp);
  }

  when(match: ScriptMatcher, resp: ScriptedResponse): void {
    this.rules.push({ match, resp });
  }

  clear(): void {
    this.queue = [];
    this.rules = [];
  }

  get pending(): number {
    return this.queue.length;
  }

  /** Queue first, then the first matching rule in registration order. */
  take(body: JsonObject, promptText: () => string): ScriptedResponse | undefined {
    const queued = this.queue.shift();
    if (queued) return queued;
    let text: string | undefined;
    for (const rule of this.rules) {
      if (typeof rule.match === 'string') {
        text ??= promptText();
        if (text.includes(rule.match)) return rule.resp;
      } else {
        try {
          if (rule.match(body)) return rule.resp;
        } catch {
          // A throwing predicate is a test bug; treating it as "no match" keeps the server alive.
        }
      }
    }
    return undefined;
  }
}
