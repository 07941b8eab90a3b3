import type { Logger } from 'pino';

export interface AlertEvent {
  name: string; // e.g. budget-80, budget-100, rate-limit-abuse, upstream-auth
  severity: 'info' | 'warning' | 'critical';
  summary: string;
  details?: Record<string, unknown>;
}

export interface AlertSink {
  notify(event: AlertEvent): void;
}

// Slack-compatible JSON ({text, ...}) so an incoming-webhook URL works as is. Delivery
// is best effort with a short timeout: an alert must never slow or fail a request.
export function createAlertSink(opts: { webhook?: string | undefined; logger: Pick<Logger, 'warn' | 'info'>; fetchImpl?: typeof fetch }): AlertSink {
  const doFetch = opts.fetchImpl ?? fetch;
  return {
    notify(event) {
      opts.logger.warn({ alert: event.name, severity: event.severity, details: event.details }, event.summary);
      if (!opts.webhook) return;
      const body = JSON.stringify({ text: `[tutorgate] ${event.severity.toUpperCase()} ${event.name}: ${event.summary}`, alert: event });
      doFetch(opts.webhook, { method: 'POST', headers: { 'content-type': 'application/json' }, body, signal: AbortSignal.timeout(3000) }).catch((err: unknown) =>
        opts.logger.warn({ alert: event.name, err: { message: (err as Error).message } }, 'alert webhook delivery failed'),
      );
    },
  };
}
