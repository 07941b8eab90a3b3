import type { Logger } from 'pino';

export interface AlertEvent {
  name: string; // e.g. budget-80, budget-100, rate-limit-abuse, upstream-auth
  severity: 'info' | 'warning' | 'critical';
  summary: string;
  /** Set by the alert evaluator; one-off notices (budget-80, abuse) leave it out. */
  status?: 'firing' | 'resolved';
  details?: Record<string, unknown>;
}

export interface AlertSink {
  /** Fire and forget: for request paths, which must never wait on a webhook. */
  notify(event: AlertEvent): void;
  /** Resolves true once the webhook accepted the message (or there is no webhook); never rejects. */
  deliver(event: AlertEvent): Promise<boolean>;
}

export function alertText(event: AlertEvent): string {
  const head = event.status === 'resolved' ? 'RESOLVED' : event.severity.toUpperCase();
  return `[tutorgate] ${head} ${event.name}: ${event.summary}`;
}

// Slack-compatible JSON ({text, ...}) so an incoming-webhook URL works as is. Delivery
// is best effort with a short timeout: an alert must never slow or fail a request.
export function createAlertSink(opts: { webhook?: string | undefined; logger: Pick<Logger, 'warn' | 'info'>; fetchImpl?: typeof fetch }): AlertSink {
  const doFetch = opts.fetchImpl ?? fetch;
  const deliver = async (event: AlertEvent): Promise<boolean> => {
    const log = event.status === 'resolved' ? opts.logger.info.bind(opts.logger) : opts.logger.warn.bind(opts.logger);
    log({ alert: event.name, severity: event.severity, status: event.status, details: event.details }, event.summary);
    if (!opts.webhook) return true;
    const body = JSON.stringify({ text: alertText(event), alert: event });
    try {
      const res = await doFetch(opts.webhook, { method: 'POST', headers: { 'content-type': 'application/json' }, body, signal: AbortSignal.timeout(3000) });
      await res.body?.cancel(); // free the socket; the receiver's reply says nothing we use
      if (res.ok) return true;
      opts.logger.warn({ alert: event.name, status: res.status }, 'alert webhook refused the message');
    } catch (err) {
      // The URL may carry a token (Slack's do), so log the error message only, never the URL.
      opts.logger.warn({ alert: event.name, err: { message: (err as Error).message } }, 'alert webhook delivery failed');
    }
    return false;
  };
  return {
    notify(event) {
      void deliver(event);
    },
    deliver,
  };
}
