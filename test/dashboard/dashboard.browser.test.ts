import { existsSync, mkdirSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MeteredCall } from '../../src/features/usage/metering.service.js';
import { bearer, type TestApp } from '../helpers/test-app.js';
import { createSimulatedApp } from '../helpers/simulated-app.js';
import { insertUsers } from '../helpers/databases.js';
import type { Simulator } from '../../src/llm/simulator/types.js';

// Drives the real page in Debian's Chromium against a real listening server. CI
// installs /usr/bin/chromium; without it this must fail, not skip, or a broken
// dashboard would pass unseen.
const CHROMIUM = '/usr/bin/chromium';
const EVIL_USER = '<img src=x onerror="window.__xss=1">';
const DAY = 86_400_000;

interface UsageTotals {
  calls: number;
  inputTokens: number;
  outputTokens: number;
  cacheReadTokens: number;
  cacheWriteTokens: number;
  costUsd: number;
}

const usd = (n: number) => {
  const digits = Math.abs(n) >= 100 ? 2 : 4;
  return '$' + n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
};

describe('admin dashboard in a browser', () => {
  let t: TestApp & { sim: Simulator };
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let base: string;
  let adminKey: string;
  let learnerKey: string;
  const browserErrors: string[] = [];
  // Every icon the browser fetched, with its status: the page's own, never a 404 for /favicon.ico.
  const icons: string[] = [];

  const seed = async (userId: string, feature: 'grading' | 'learning_path', daysAgo: number, input: number, output: number, cacheRead = 0, cacheWrite = 0) => {
    const model = feature === 'grading' ? 'claude-haiku-4-5' : 'claude-sonnet-4-6';
    const now = t.clock.ms;
    t.clock.ms = now - daysAgo * DAY;
    try {
      const r = await t.container.metering.reserve({ userId, feature, model, worstCaseMicros: 5_000_000, lines: [] });
      if (!r.ok) throw new Error('reservation refused');
      const call: MeteredCall = { model, latencyMs: 800, outcome: 'ok', usage: { inputTokens: input, outputTokens: output, cacheReadTokens: cacheRead, cacheWrite5mTokens: cacheWrite, cacheWrite1hTokens: 0 } };
      await t.container.metering.settle(r.reservation, [call], 'llm');
    } finally {
      t.clock.ms = now;
    }
  };

  const apiUsage = async (query: string) => {
    const r = await t.app.inject({ method: 'GET', url: `/v1/admin/usage?${query}`, headers: bearer(adminKey) });
    expect(r.statusCode).toBe(200);
    return r.json() as { from: string; to: string; totals: UsageTotals; topUsers: { user: string; costUsd: number }[] };
  };

  const expectTotalsShown = async (totals: UsageTotals) => {
    const cost = page.getByTestId('total-cost');
    expect(Number(await cost.getAttribute('data-value'))).toBe(totals.costUsd);
    expect(await cost.textContent()).toBe(usd(totals.costUsd));
    expect(await cost.getAttribute('title')).toBe('$' + totals.costUsd.toFixed(6));
    const figures: [string, number][] = [
      ['total-calls', totals.calls],
      ['total-input-tokens', totals.inputTokens],
      ['total-output-tokens', totals.outputTokens],
      ['total-cache-read-tokens', totals.cacheReadTokens],
      ['total-cache-write-tokens', totals.cacheWriteTokens],
    ];
    for (const [id, value] of figures) {
      expect((await page.getByTestId(id).textContent())?.replaceAll(',', ''), id).toBe(String(value));
    }
  };

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`Chromium is missing at ${CHROMIUM}; install it (apt-get install chromium) to run the dashboard browser test.`);
    // The simulator stands in for Claude, so grades run the real pipeline and can hit the cache.
    t = await createSimulatedApp();
    t.sim.script.when('<student_answer>', {
      json: { criteria: [{ criterionId: 'correctness', levelId: 'correct', evidence: [], justification: 'Names evaporation.' }], feedback: { strengths: ['Clear.'], improve: ['Say where it goes.'], nextStep: 'Explain heat.' }, confidence: 0.9 },
    });
    adminKey = await t.premium('ops-admin', ['admin']);
    learnerKey = await t.premium('lea-learner');
    // A week of traffic: three learners (one with a hostile id), both features, with prompt caching.
    await insertUsers(t.store.db, ['ana', 'ben', EVIL_USER]);
    for (let d = 0; d < 7; d++) {
      await seed('ana', 'grading', d, 12_000 + d * 1_000, 2_400, 8_000, 1_000);
      if (d % 2 === 0) await seed('ben', 'learning_path', d, 30_000, 6_000 + d * 500);
      if (d % 3 === 0) await seed(EVIL_USER, 'grading', d, 4_321, 987);
    }
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    base = `http://127.0.0.1:${(t.app.server.address() as AddressInfo).port}`;
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
      timeout: 120_000,
    });
    context = await browser.newContext({ viewport: { width: 1440, height: 1000 }, locale: 'en-US' });
    context.setDefaultTimeout(30_000);
    page = await context.newPage();
    // CSP violations and script errors show up here; expected 401/403 fetches are filtered.
    page.on('console', (m) => {
      if (m.type() === 'error' && !/Failed to load resource/.test(m.text())) browserErrors.push(m.text());
    });
    page.on('pageerror', (e) => browserErrors.push(String(e)));
    page.on('response', (r) => {
      if (/favicon/.test(r.url())) icons.push(`${new URL(r.url()).pathname} ${r.status()}`);
    });
  }, 240_000);

  afterAll(async () => {
    await browser?.close();
    await t?.close();
  }, 60_000);

  const sessionCookie = async () => (await context.cookies(base)).find((c) => c.name === 'tg_session');

  it('shows the sign-in form and refuses a learner key', { timeout: 120_000 }, async () => {
    const res = await page.goto(`${base}/admin`);
    expect(res?.headers()['content-security-policy']).toContain("default-src 'self'");
    await page.getByTestId('token-input').waitFor({ state: 'visible' });
    await page.getByTestId('token-input').fill(learnerKey);
    await page.getByTestId('signin-submit').click();
    await expect.poll(() => page.getByTestId('signin-error').textContent(), { timeout: 30_000 }).toMatch(/administrators/);
    expect(await page.locator('#dashboard').isHidden()).toBe(true);
    expect(await sessionCookie()).toBeUndefined();
  });

  it('signs the admin in and shows exactly the totals the API reports', { timeout: 120_000 }, async () => {
    await page.getByTestId('token-input').fill(adminKey);
    await page.getByTestId('signin-submit').click();
    await page.locator('#dashboard[data-range]').waitFor({ state: 'attached', timeout: 60_000 });
    const api = await apiUsage('groupBy=day,feature');
    expect(api.totals.calls).toBe(7 + 4 + 3);
    expect(await page.locator('#dashboard').getAttribute('data-range')).toBe(`${api.from}..${api.to}`);
    expect(await page.getByTestId('range-from').inputValue()).toBe(api.from);
    await expectTotalsShown(api.totals);
    expect(await page.getByTestId('signed-in-user').textContent()).toBe('ops-admin');
  });

  it('keeps the session in an httpOnly, SameSite=Strict cookie that scripts cannot read', async () => {
    const cookie = await sessionCookie();
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Strict', path: '/', secure: false });
    expect(await page.evaluate(() => document.cookie)).not.toContain('tg_session');
  });

  it('shows a hostile user id as text, injecting no element', async () => {
    const api = await apiUsage('groupBy=user&top=10');
    const shown = await page.getByTestId('top-user-id').allTextContents();
    expect(shown).toEqual(api.topUsers.map((u) => u.user));
    expect(shown).toContain(EVIL_USER);
    expect(await page.locator('img').count()).toBe(0);
    expect(await page.evaluate(() => (window as unknown as { __xss?: number }).__xss)).toBeUndefined();
  });

  it('draws the charts, budgets, cache, breaker and flags', async () => {
    expect(await page.locator('[data-testid="chart-cost-feature"] svg rect').count()).toBeGreaterThanOrEqual(7);
    expect(await page.locator('[data-testid="chart-cost-feature"] .legend').textContent()).toMatch(/grading.*learning_path/);
    expect(await page.locator('[data-testid="chart-tokens-model"] .legend').textContent()).toMatch(/claude-haiku-4-5.*claude-sonnet-4-6/);
    const { budgets } = (await t.app.inject({ method: 'GET', url: '/v1/admin/usage', headers: bearer(adminKey) })).json() as { budgets: { budget: string }[] };
    expect(await page.locator('[data-testid="budgets"] .budget').evaluateAll((els) => els.map((e) => (e as HTMLElement).dataset.budget))).toEqual(budgets.map((b) => b.budget));
    const ops = (await t.app.inject({ method: 'GET', url: '/v1/admin/ops', headers: bearer(adminKey) })).json();
    expect(await page.getByTestId('breaker-state').textContent()).toBe(ops.llm.breaker.replace('_', '-'));
    expect(await page.getByTestId('cache-hits').textContent()).toBe(String(ops.cache.hits));
    expect(await page.getByTestId('cache-entries').textContent()).toBe(String(ops.cache.entries));
    expect(await page.getByTestId('flag-row').evaluateAll((els) => els.map((e) => (e as HTMLElement).dataset.flag))).toEqual(ops.flags.map((f: { key: string }) => f.key).sort());
    expect(await page.getByTestId('saved-usd').getAttribute('data-value')).toBe('0'); // nothing cached yet
  });

  it('narrows to a date range and exports that range as CSV with the session', { timeout: 120_000 }, async () => {
    const api = await apiUsage('groupBy=day,feature');
    const day = new Date(Date.parse(api.to) - 2 * DAY).toISOString().slice(0, 10);
    await page.getByTestId('range-from').fill(day);
    await page.getByTestId('range-to').fill(day);
    await page.getByTestId('range-apply').click();
    await page.locator(`#dashboard[data-range="${day}..${day}"]`).waitFor({ state: 'attached', timeout: 60_000 });
    const narrowed = await apiUsage(`groupBy=day,feature&from=${day}&to=${day}`);
    expect(narrowed.totals.calls).toBe(2); // ana and ben two days back
    await expectTotalsShown(narrowed.totals);

    const href = await page.getByTestId('csv-export').getAttribute('href');
    expect(href).toBe(`/v1/admin/usage?groupBy=user,feature,model,day&format=csv&from=${day}&to=${day}`);
    const csv = await context.request.get(base + href); // the browser context's cookie jar
    expect(csv.status()).toBe(200);
    expect(csv.headers()['content-type']).toMatch(/^text\/csv/);
    expect((await csv.text()).trim().split('\n')).toHaveLength(1 + 2);
  });

  // Each chart's five y-axis labels, as numbers ("1.5K" → 1500, "$0.0075" → 0.0075).
  const axisLabels = (chart: string) =>
    page.locator(`[data-testid="${chart}"] svg text.axis[text-anchor="end"]`).allTextContents().then((labels) =>
      labels.map((l) => {
        const m = /^\$?([\d.,]+)([KMB]?)$/.exec(l);
        if (!m) throw new Error(`axis label ${l}`);
        return Number(m[1]!.replaceAll(',', '')) * { '': 1, K: 1e3, M: 1e6, B: 1e9 }[m[2] as '' | 'K' | 'M' | 'B'];
      }),
    );

  it('labels every grid line with its exact value, in whole tokens, also for a range with no usage', { timeout: 120_000 }, async () => {
    const before = [await page.getByTestId('range-from').inputValue(), await page.getByTestId('range-to').inputValue()];
    const empty = '2020-01-01';
    try {
      for (const [from, to] of [[empty, empty], [before[0]!, before[1]!]]) {
        await page.getByTestId('range-from').fill(from!);
        await page.getByTestId('range-to').fill(to!);
        await page.getByTestId('range-apply').click();
        await page.locator(`#dashboard[data-range="${from}..${to}"]`).waitFor({ state: 'attached', timeout: 60_000 });
        for (const chart of ['chart-cost-feature', 'chart-tokens-feature', 'chart-cost-model', 'chart-tokens-model']) {
          const ticks = await axisLabels(chart);
          expect(ticks).toHaveLength(5);
          const top = ticks[4]!;
          expect(top).toBeGreaterThan(0);
          ticks.forEach((v, k) => expect(v, `${chart} ${from}..${to}: grid line ${k} of 4 up to ${top}`).toBeCloseTo((top * k) / 4, 12));
          if (chart.includes('tokens')) expect(ticks.every(Number.isInteger), `${chart}: ${ticks.join(', ')}`).toBe(true);
        }
      }
    } finally {
      await page.getByTestId('range-from').fill(before[0]!);
      await page.getByTestId('range-to').fill(before[1]!);
    }
  });

  const grade = (answer: string) =>
    t.app.inject({ method: 'POST', url: '/v1/grading/evaluations', headers: bearer(learnerKey), payload: { question: 'Why does a puddle disappear?', referenceAnswer: 'The water evaporates into the air.', answer } });
  // Waits for the page's own fetch of the figures: the status line shows the time to the
  // second, so two reloads within one second look alike.
  const reloadFigures = async () => {
    await Promise.all([page.waitForResponse((r) => r.url().includes('/v1/admin/ops'), { timeout: 30_000 }), page.getByTestId('range-apply').click()]);
    await page.locator('#dashboard[data-range]').waitFor({ state: 'attached' });
  };
  const figures = async () => (await t.app.inject({ method: 'GET', url: '/v1/admin/ops', headers: bearer(adminKey) })).json().figures;

  it('shows the savings, answer sources and limiter decisions after a cache hit', { timeout: 120_000 }, async () => {
    expect((await grade('It evaporates in the sun.')).json().source).toBe('llm');
    expect((await grade('It evaporates in the sun.')).json()).toMatchObject({ source: 'cache', usage: { costUsd: 0 } });
    const f = await figures();
    expect(f.cache.savedUsd).toBeGreaterThan(0);
    expect(f.cache.savedTokens).toBeGreaterThan(0);
    await reloadFigures();
    await expect.poll(() => page.getByTestId('saved-usd').getAttribute('data-value'), { timeout: 30_000 }).toBe(String(f.cache.savedUsd));
    expect(await page.getByTestId('saved-usd').textContent()).toBe(usd(f.cache.savedUsd));
    expect((await page.getByTestId('saved-tokens').textContent())?.replaceAll(',', '')).toBe(String(f.cache.savedTokens));
    const grading = page.locator('[data-testid="cache-feature-row"][data-feature="grading"] td');
    expect(await grading.allTextContents()).toEqual(['grading', '1', '1', expect.any(String), usd(f.cache.savedUsd)]);
    expect(await page.getByTestId('answers-llm').textContent()).toBe('1');
    expect(await page.getByTestId('answers-cache').textContent()).toBe('1');
    const premium = await page.locator('[data-testid="limiter-row"][data-tier="premium"] td').allTextContents();
    expect(premium.slice(0, 3)).toEqual(['premium', '2', '0']);
  });

  it('turns a flag off from the page: the API shows it off and the audit names the admin', { timeout: 120_000 }, async () => {
    const row = page.locator('[data-testid="flag-row"][data-flag="grading"]');
    expect(await row.getByTestId('flag-toggle').isChecked()).toBe(true);
    expect(await row.getByTestId('flag-save').isDisabled()).toBe(true); // nothing to save yet
    await row.getByTestId('flag-toggle').uncheck();
    expect(await row.getByTestId('flag-status').textContent()).toBe('unsaved');
    await row.getByTestId('flag-save').click();
    await expect.poll(() => row.getByTestId('flag-status').textContent(), { timeout: 30_000 }).toBe('Saved');

    const api = await t.app.inject({ method: 'GET', url: '/v1/admin/flags/grading', headers: bearer(adminKey) });
    expect(api.json()).toMatchObject({ key: 'grading', enabled: false, rollout: 100 }); // only the toggle was sent
    const audit = (await t.app.inject({ method: 'GET', url: '/v1/admin/flags/grading/audit', headers: bearer(adminKey) })).json();
    expect(audit.entries[0]).toMatchObject({ actor: 'ops-admin', before: { enabled: true }, after: { enabled: false } });

    // The page's recent-changes list reads the same audit.
    const details = page.locator('tr[data-flag="grading"] + tr [data-testid="flag-history"]');
    await details.locator('summary').click();
    const entry = details.getByTestId('flag-history-entry').first();
    await entry.waitFor({ state: 'visible' });
    expect(await entry.getByTestId('flag-history-actor').textContent()).toBe('ops-admin');
    expect(await entry.textContent()).toContain('turned off');

    // With grading off, answers fall back to rules, and the page says why.
    expect((await grade('Sunshine dries it.')).json()).toMatchObject({ source: 'rules', fallbackReason: 'flag_off' });
    await reloadFigures();
    await page.locator('[data-testid="fallback-reason"][data-reason="flag_off"]').waitFor({ state: 'attached', timeout: 30_000 });
    expect(await page.getByTestId('answers-rules').textContent()).toBe('1');
    await page.locator('tr[data-flag="grading"] + tr [data-testid="flag-history"] summary').click();
    await page.locator('tr[data-flag="grading"] + tr [data-testid="flag-history-entry"]').first().waitFor({ state: 'visible' });
    mkdirSync('test-artifacts', { recursive: true });
    await page.screenshot({ path: 'test-artifacts/dashboard.png', fullPage: true });
  });

  // Every table cell must be readable, at a phone's width and at a small laptop's: a wide
  // table may scroll inside its card, but must not spill out of it (under the next card, or
  // making the whole page scroll sideways), and a KPI figure must not break across lines.
  it('lays out at 375 and 1024 px: no sideways page scroll, every table cell can be seen, KPIs on one line', { timeout: 120_000 }, async () => {
    try {
      for (const width of [375, 1024]) {
        await page.setViewportSize({ width, height: 900 });
        expect(await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth), `page wider than ${width} px`).toBeLessThanOrEqual(0);
        const cells = page.locator('#dashboard table th, #dashboard table td');
        const count = await cells.count();
        expect(count).toBeGreaterThan(30);
        for (let i = 0; i < count; i++) {
          const cell = cells.nth(i);
          await cell.scrollIntoViewIfNeeded();
          const seen = await cell.evaluate((e) => {
            const r = e.getBoundingClientRect();
            const card = e.closest('.card')!.getBoundingClientRect();
            // A cell must sit inside its card, not spill under the next one; both its ends
            // must be on top. A cell spanning a table wider than its card shows only a part.
            const spans = r.width > card.width;
            if (!spans && (r.left < card.left - 0.5 || r.right > card.right + 0.5)) return false;
            return (spans ? [Math.max(r.left, card.left) + 4] : [r.left + 2, r.right - 2]).every((x) => {
              const hit = document.elementFromPoint(x, r.top + r.height / 2);
              return hit !== null && (e === hit || e.contains(hit));
            });
          });
          expect(seen, `at ${width} px, cell ${i} ("${(await cell.textContent())?.trim()}") is covered or out of view`).toBe(true);
        }
        const kpiLines = await page.locator('.kpi-value').evaluateAll((els) =>
          els.map((e) => {
            const r = document.createRange();
            r.selectNodeContents(e);
            return new Set([...r.getClientRects()].map((b) => Math.round(b.top))).size;
          }),
        );
        expect(kpiLines, `KPI lines at ${width} px`).toEqual([1, 1, 1, 1, 1, 1]);
      }
    } finally {
      await page.setViewportSize({ width: 1440, height: 1000 });
    }
  });

  it('signs out: the cookie is gone and a reload shows the sign-in form', { timeout: 120_000 }, async () => {
    await page.getByTestId('logout').click();
    await page.getByTestId('token-input').waitFor({ state: 'visible' });
    expect(await sessionCookie()).toBeUndefined();
    await page.reload();
    await page.getByTestId('token-input').waitFor({ state: 'visible' });
    expect(await page.locator('#dashboard').isHidden()).toBe(true);
    expect((await context.request.get(`${base}/v1/admin/usage`)).status()).toBe(401);
  });

  it('logged no script errors or CSP violations', () => {
    expect(browserErrors).toEqual([]);
  });

  it('fetched the tab icon the page links, and no /favicon.ico that would 404', () => {
    expect(icons.length).toBeGreaterThan(0);
    expect([...new Set(icons)]).toEqual(['/admin/favicon.svg 200']);
  });
});
