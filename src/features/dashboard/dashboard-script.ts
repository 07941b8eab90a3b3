// The dashboard's browser code, served as /admin/app.js (an ES module). It is a string
// so `tsc` ships it in dist/ (non-TS files are not copied); keep it plain ES2020 with
// no backticks, since it lives inside a template literal here.
//
// Every value from the API (user ids, model names, flag keys, budget keys) reaches the
// DOM through textContent or setAttribute, never innerHTML: a user id such as
// "<img src=x onerror=...>" must show as text.
export const DASHBOARD_SCRIPT = String.raw`
const SVGNS = 'http://www.w3.org/2000/svg';
const PALETTE = ['#3b5bdb', '#f08c00', '#2b8a3e', '#ae3ec9', '#0c8599', '#e8590c', '#5c940d', '#c2255c', '#1971c2', '#862e9c'];
const DAY_MS = 86400000;
const intFormat = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
const compactFormat = new Intl.NumberFormat('en-US', { notation: 'compact', maximumFractionDigits: 1 });

const $ = (id) => document.getElementById(id);
// csrf: the session's CSRF token, held only here in memory (never in storage, where
// it would outlive the session); the server hands it out again on every page load.
const state = { from: '', to: '', loadSeq: 0, csrf: '' };

class HttpError extends Error {
  constructor(status, detail) {
    super(detail);
    this.status = status;
  }
}

// Cost is shown to 4 decimals below $100 (a day of a small class costs cents) and
// to the cent above; the exact figure is in the title and data-value.
function usd(n) {
  const v = Number(n) || 0;
  const digits = Math.abs(v) >= 100 ? 2 : 4;
  return '$' + v.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}
function int(n) {
  return intFormat.format(Number(n) || 0);
}
function axisUsd(v) {
  return v === 0 ? '$0' : '$' + Number(v.toPrecision(3)).toLocaleString('en-US', { maximumFractionDigits: 6 });
}
function axisCount(v) {
  return compactFormat.format(v);
}
function bytes(n) {
  const units = ['B', 'KiB', 'MiB', 'GiB'];
  let v = Number(n) || 0;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return (u === 0 ? String(v) : v.toFixed(1)) + ' ' + units[u];
}
function percent(ratio) {
  return (ratio * 100).toFixed(1) + ' %';
}

function el(tag, className, text) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
}
function svgEl(tag, attrs) {
  const e = document.createElementNS(SVGNS, tag);
  for (const k of Object.keys(attrs || {})) e.setAttribute(k, String(attrs[k]));
  return e;
}
function svgText(attrs, text) {
  const t = svgEl('text', attrs);
  t.textContent = text;
  return t;
}
function badge(text, tone) {
  return el('span', 'badge ' + (tone || ''), text);
}

async function request(method, path, body) {
  const init = { method, credentials: 'same-origin', headers: { accept: 'application/json' } };
  if (method !== 'GET' && state.csrf) init.headers['x-csrf-token'] = state.csrf;
  if (body !== undefined) {
    init.headers['content-type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const res = await fetch(path, init);
  if (res.status === 204) return null;
  let data = null;
  try {
    data = await res.json();
  } catch (e) {
    data = null;
  }
  if (!res.ok) throw new HttpError(res.status, (data && data.detail) || 'HTTP ' + res.status);
  return data;
}

function setStatus(text, isError) {
  const s = $('status');
  s.textContent = text;
  s.className = isError ? 'error' : 'muted';
}

function showSignIn(message) {
  $('dashboard').hidden = true;
  $('who').hidden = true;
  $('signin').hidden = false;
  const err = $('signin-error');
  err.textContent = message || '';
  err.hidden = !message;
  $('token').focus();
}

function showDashboard(session) {
  state.csrf = session.csrfToken || '';
  const userId = session.userId;
  $('signin').hidden = true;
  $('dashboard').hidden = false;
  $('who').hidden = false;
  $('who-user').textContent = userId;
}

function rangeQuery() {
  let q = '';
  if (state.from) q += '&from=' + encodeURIComponent(state.from);
  if (state.to) q += '&to=' + encodeURIComponent(state.to);
  return q;
}

async function load() {
  const seq = ++state.loadSeq;
  setStatus('Loading…');
  const range = rangeQuery();
  let byFeature, byModel, byUser, ops;
  try {
    [byFeature, byModel, byUser, ops] = await Promise.all([
      request('GET', '/v1/admin/usage?groupBy=day,feature' + range),
      request('GET', '/v1/admin/usage?groupBy=day,model' + range),
      request('GET', '/v1/admin/usage?groupBy=user&top=10' + range),
      request('GET', '/v1/admin/ops'),
    ]);
  } catch (e) {
    if (seq !== state.loadSeq) return;
    if (e instanceof HttpError && e.status === 401) return showSignIn('Your session has ended; sign in again.');
    return setStatus('Could not load the figures: ' + e.message, true);
  }
  if (seq !== state.loadSeq) return; // a newer load has started; its answer wins
  state.from = byFeature.from;
  state.to = byFeature.to;
  $('from').value = state.from;
  $('to').value = state.to;
  $('csv').setAttribute('href', '/v1/admin/usage?groupBy=user,feature,model,day&format=csv' + rangeQuery());

  const days = daysBetween(state.from, state.to);
  renderTotals(byFeature.totals || {});
  stackedBars($('chart-cost-feature'), byFeature.rows, 'feature', (r) => r.costUsd, days, usd, axisUsd);
  stackedBars($('chart-tokens-feature'), byFeature.rows, 'feature', (r) => r.inputTokens + r.outputTokens, days, int, axisCount);
  stackedBars($('chart-cost-model'), byModel.rows, 'model', (r) => r.costUsd, days, usd, axisUsd);
  stackedBars($('chart-tokens-model'), byModel.rows, 'model', (r) => r.inputTokens + r.outputTokens, days, int, axisCount);
  renderUsers(byUser.rows);
  renderBudgets(byFeature.budgets || []);
  renderCache(ops.cache);
  renderLlm(ops.llm);
  renderLimits(ops.limits || {});
  renderFigures(ops.figures || {});
  renderFlags(ops.flags || [], (ops.flagAnalytics && ops.flagAnalytics.flags) || {});
  setStatus(state.from + ' to ' + state.to + ' (UTC) · updated ' + new Date().toLocaleTimeString('en-GB'));
  $('dashboard').dataset.range = state.from + '..' + state.to;
}

function setFigure(id, value, text, title) {
  const e = $(id);
  e.textContent = text;
  e.dataset.value = String(value);
  if (title) e.title = title;
}

function renderTotals(t) {
  const cost = Number(t.costUsd) || 0;
  setFigure('total-cost', cost, usd(cost), '$' + cost.toFixed(6));
  setFigure('total-calls', t.calls || 0, int(t.calls));
  setFigure('total-input-tokens', t.inputTokens || 0, int(t.inputTokens));
  setFigure('total-output-tokens', t.outputTokens || 0, int(t.outputTokens));
  setFigure('total-cache-read-tokens', t.cacheReadTokens || 0, int(t.cacheReadTokens));
  setFigure('total-cache-write-tokens', t.cacheWriteTokens || 0, int(t.cacheWriteTokens));
}

function daysBetween(from, to) {
  const out = [];
  const end = Date.parse(to + 'T00:00:00Z');
  for (let t = Date.parse(from + 'T00:00:00Z'); t <= end && out.length < 1000; t += DAY_MS) out.push(new Date(t).toISOString().slice(0, 10));
  return out;
}

// The axis top: four equal steps, each the smallest 1, 2, 2.5 or 5 times a power of ten
// (a whole number for counts) whose four reach max. Every grid line then has a short value
// its label shows exactly (a top of 5K put lines at 1,250 and 3,750, labelled "1.3K", "3.8K").
function niceMax(max, whole) {
  const quarter = Math.max(max > 0 ? max / 4 : 0.25, whole ? 1 : 0);
  const p = Math.pow(10, Math.floor(Math.log10(quarter)));
  for (const m of [1, 2, 2.5, 5]) if (m * p >= quarter && (!whole || Number.isInteger(m * p))) return 4 * m * p;
  return 40 * p;
}

function stackedBars(target, rows, key, metric, days, fmt, axisFmt) {
  target.replaceChildren();
  const names = Array.from(new Set(rows.map((r) => String(r[key])))).sort();
  const index = new Map(days.map((d, i) => [d, i]));
  const values = names.map(() => days.map(() => 0));
  for (const r of rows) {
    const i = index.get(r.day);
    if (i !== undefined) values[names.indexOf(String(r[key]))][i] += Number(metric(r)) || 0;
  }
  const totals = days.map((_, i) => values.reduce((s, v) => s + v[i], 0));
  const max = niceMax(Math.max(0, ...totals), axisFmt === axisCount); // tokens come whole
  const W = 560, H = 210, L = 58, R = 8, T = 8, B = 24;
  const plotH = H - T - B;
  const svg = svgEl('svg', { viewBox: '0 0 ' + W + ' ' + H, role: 'img', 'aria-label': target.previousElementSibling ? target.previousElementSibling.textContent : 'chart' });
  for (let k = 0; k <= 4; k++) {
    const y = T + plotH * (1 - k / 4);
    svg.appendChild(svgEl('line', { x1: L, x2: W - R, y1: y, y2: y, class: 'grid-line' }));
    svg.appendChild(svgText({ x: L - 6, y: y + 3, 'text-anchor': 'end', class: 'axis' }, axisFmt((max * k) / 4)));
  }
  const step = (W - L - R) / Math.max(1, days.length);
  const bw = Math.max(1, step * 0.72);
  days.forEach((day, i) => {
    let y = T + plotH;
    names.forEach((name, s) => {
      const v = values[s][i];
      if (!(v > 0)) return;
      const h = Math.max(0.75, (v / max) * plotH);
      y -= h;
      const rect = svgEl('rect', { x: (L + i * step + (step - bw) / 2).toFixed(2), y: y.toFixed(2), width: bw.toFixed(2), height: h.toFixed(2), rx: Math.min(2, bw / 4).toFixed(2), fill: PALETTE[s % PALETTE.length] });
      rect.dataset.series = name;
      const tip = svgEl('title');
      tip.textContent = day + ' · ' + name + ': ' + fmt(v);
      rect.appendChild(tip);
      svg.appendChild(rect);
    });
  });
  const every = Math.max(1, Math.ceil(days.length / 7));
  days.forEach((day, i) => {
    if (i % every !== 0) return;
    svg.appendChild(svgText({ x: (L + i * step + step / 2).toFixed(2), y: H - 6, 'text-anchor': 'middle', class: 'axis' }, day.slice(5)));
  });
  if (!names.length) svg.appendChild(svgText({ x: (L + W - R) / 2, y: T + plotH / 2, 'text-anchor': 'middle', class: 'empty' }, 'No usage in this range'));
  target.appendChild(svg);
  const legend = el('div', 'legend');
  names.forEach((name, s) => {
    const item = el('span');
    const sw = el('i', 'swatch');
    sw.style.background = PALETTE[s % PALETTE.length]; // CSSOM, which the CSP allows
    item.append(sw, document.createTextNode(name + ' · ' + fmt(values[s].reduce((a, b) => a + b, 0))));
    legend.appendChild(item);
  });
  target.appendChild(legend);
}

function emptyRow(tbody, columns, text) {
  const tr = el('tr', 'empty-row');
  const td = el('td', '', text);
  td.colSpan = columns;
  tr.appendChild(td);
  tbody.appendChild(tr);
}

function renderUsers(rows) {
  const tbody = $('top-users');
  tbody.replaceChildren();
  if (!rows.length) return emptyRow(tbody, 5, 'No usage in this range');
  for (const r of rows) {
    const tr = el('tr');
    tr.dataset.testid = 'top-user-row';
    const user = el('td', 'user', r.user);
    user.dataset.testid = 'top-user-id';
    tr.append(user, el('td', 'num', int(r.calls)), el('td', 'num', int(r.inputTokens)), el('td', 'num', int(r.outputTokens)), el('td', 'num', usd(r.costUsd)));
    tbody.appendChild(tr);
  }
}

function renderBudgets(budgets) {
  const box = $('budgets');
  box.replaceChildren();
  if (!budgets.length) {
    box.appendChild(el('p', 'muted', 'The policy sets no service-wide budgets.'));
    return;
  }
  for (const b of budgets) {
    const used = Math.max(0, Number(b.used) || 0);
    const item = el('div', 'budget');
    item.dataset.budget = b.budget;
    const head = el('div', 'budget-head');
    head.append(el('span', '', b.budget), el('span', 'muted', usd(b.spentUsd) + ' of ' + usd(b.capUsd) + ' · ' + percent(used) + (b.exhausted ? ' · exhausted' : '')));
    const bar = el('div', 'bar');
    const fill = el('div', 'bar-fill' + (used >= 1 || b.exhausted ? ' bad' : used >= 0.8 ? ' warn' : ''));
    fill.style.width = Math.min(100, used * 100).toFixed(2) + '%';
    bar.setAttribute('role', 'meter');
    bar.setAttribute('aria-valuenow', String(Math.round(used * 100)));
    bar.appendChild(fill);
    item.append(head, bar);
    box.appendChild(item);
  }
  box.appendChild(el('p', 'muted', 'Burn right now (today, this month); not affected by the date range.'));
}

function statsList(dl, pairs) {
  dl.replaceChildren();
  for (const [label, value, testid] of pairs) {
    const dd = el('dd');
    if (value instanceof Node) dd.appendChild(value);
    else dd.textContent = value;
    if (testid) dd.dataset.testid = testid;
    dl.append(el('dt', '', label), dd);
  }
}

function renderCache(c) {
  const lookups = c.hits + c.misses;
  statsList($('cache'), [
    ['Hits', int(c.hits), 'cache-hits'],
    ['Misses', int(c.misses), 'cache-misses'],
    ['Hit ratio', lookups ? percent(c.hits / lookups) : '—', 'cache-hit-ratio'],
    ['Entries', int(c.entries), 'cache-entries'],
    ['Memory', bytes(c.bytes), 'cache-bytes'],
    ['Evictions', int(c.evictions), 'cache-evictions'],
  ]);
}

function renderLlm(llm) {
  const tone = llm.breaker === 'closed' ? 'ok' : llm.breaker === 'open' ? 'bad' : 'warn';
  const b = badge(String(llm.breaker).replace('_', '-'), tone);
  b.dataset.testid = 'breaker-state';
  statsList($('llm'), [
    ['Circuit breaker', b],
    ['API key', llm.key || 'not configured (answers from rules)', 'llm-key'],
  ]);
}

function renderLimits(limits) {
  const tbody = $('limits');
  tbody.replaceChildren();
  const tiers = Object.keys(limits).sort();
  if (!tiers.length) return emptyRow(tbody, 5, 'No limits set');
  const cell = (v) => el('td', 'num', v === undefined || v === null ? '—' : int(v));
  for (const tier of tiers) {
    const l = limits[tier] || {};
    const tr = el('tr');
    tr.append(el('td', '', tier), cell(l.requestsPerMinute), cell(l.requestsPerHour), cell(l.tokensPerDay), cell(l.concurrent));
    tbody.appendChild(tr);
  }
}

function testid(e, id) {
  e.dataset.testid = id;
  return e;
}

function renderFigures(f) {
  const cache = f.cache || { byFeature: [], savedTokens: 0, savedUsd: 0 };
  const hits = cache.byFeature.reduce((s, r) => s + r.hits, 0);
  const misses = cache.byFeature.reduce((s, r) => s + r.misses, 0);
  statsList($('savings'), [
    ['Dollars saved', usd(cache.savedUsd), 'saved-usd'],
    ['Tokens saved', int(cache.savedTokens), 'saved-tokens'],
    ['Hit ratio', hits + misses ? percent(hits / (hits + misses)) : '—', 'saved-hit-ratio'],
  ]);
  $('savings').querySelector('[data-testid="saved-usd"]').dataset.value = String(cache.savedUsd);
  const ct = $('cache-features');
  ct.replaceChildren();
  if (!cache.byFeature.length) emptyRow(ct, 5, 'No lookups yet');
  for (const r of cache.byFeature) {
    const tr = testid(el('tr'), 'cache-feature-row');
    tr.dataset.feature = r.feature;
    tr.append(el('td', '', r.feature), el('td', 'num', int(r.hits)), el('td', 'num', int(r.misses)), el('td', 'num', int(r.savedTokens)), el('td', 'num', usd(r.savedUsd)));
    ct.appendChild(tr);
  }

  const lt = $('limiter');
  lt.replaceChildren();
  const tiers = (f.limiter && f.limiter.byTier) || [];
  if (!tiers.length) emptyRow(lt, 4, 'No decisions yet');
  for (const r of tiers) {
    const tr = testid(el('tr'), 'limiter-row');
    tr.dataset.tier = r.tier;
    const total = r.allowed + r.rejected;
    tr.append(el('td', '', r.tier), el('td', 'num', int(r.allowed)), el('td', 'num', int(r.rejected)), el('td', 'num', total ? percent(r.rejected / total) : '—'));
    lt.appendChild(tr);
  }

  const premium = f.premium || { bySource: {}, topFallbackReasons: [] };
  const sources = premium.bySource || {};
  const labels = { llm: 'From the LLM', cache: 'From the cache', rules: 'From rules (fallback)', refused: 'Refused (budget spent, 429)' };
  statsList($('answers'), Object.keys(sources).map((k) => [labels[k] || k, int(sources[k]), 'answers-' + k]));
  const ol = $('fallback-reasons');
  ol.replaceChildren();
  const reasons = premium.topFallbackReasons || [];
  if (!reasons.length) ol.appendChild(el('li', 'muted', 'No fallbacks yet'));
  for (const r of reasons) {
    const li = testid(el('li'), 'fallback-reason');
    li.dataset.reason = r.reason;
    li.append(el('code', '', r.reason), el('span', 'muted', ' · ' + int(r.count)));
    ol.appendChild(li);
  }
}

// What one audit entry changed, in words; rules, variants and ramps are only named.
function describeChange(before, after) {
  if (!before) return 'created: ' + (after.enabled ? 'on' : 'off') + ', ' + after.rollout + ' %';
  const parts = [];
  if (before.enabled !== after.enabled) parts.push(after.enabled ? 'turned on' : 'turned off');
  if (before.rollout !== after.rollout) parts.push('rollout ' + before.rollout + ' % → ' + after.rollout + ' %');
  for (const k of ['rules', 'variants', 'ramp']) {
    if (JSON.stringify(before[k] || null) !== JSON.stringify(after[k] || null)) parts.push(k + ' changed');
  }
  return parts.join(', ') || 'saved unchanged';
}

async function loadHistory(key, list) {
  list.replaceChildren(el('li', 'muted', 'Loading…'));
  let entries;
  try {
    entries = (await request('GET', '/v1/admin/flags/' + encodeURIComponent(key) + '/audit')).entries || [];
  } catch (e) {
    list.replaceChildren(el('li', 'error', 'Could not load the changes: ' + e.message));
    return;
  }
  list.replaceChildren();
  if (!entries.length) list.appendChild(el('li', 'muted', 'No changes recorded'));
  for (const a of entries.slice(0, 10)) {
    const li = testid(el('li'), 'flag-history-entry');
    const when = el('time', 'muted', String(a.at).replace('T', ' ').slice(0, 16) + ' UTC');
    when.setAttribute('datetime', String(a.at));
    const who = testid(el('strong', '', a.actor), 'flag-history-actor');
    li.append(when, document.createTextNode(' '), who, document.createTextNode(' ' + describeChange(a.before, a.after)));
    list.appendChild(li);
  }
}

function flagRow(f, a) {
  let saved = f; // the flag as the server last reported it; edits are compared with it
  const tr = testid(el('tr', 'flag-row'), 'flag-row');
  tr.dataset.flag = f.key;

  const toggle = testid(el('input', 'switch'), 'flag-toggle');
  toggle.type = 'checkbox';
  toggle.setAttribute('role', 'switch');
  toggle.setAttribute('aria-label', 'Enable ' + f.key);
  const toggleText = el('span', 'switch-text');
  const stateCell = el('td');
  const label = el('label', 'switch-label');
  label.append(toggle, toggleText);
  stateCell.appendChild(label);

  const rollout = testid(el('input', 'rollout'), 'flag-rollout');
  rollout.type = 'number';
  rollout.min = '0';
  rollout.max = '100';
  rollout.step = 'any';
  rollout.setAttribute('aria-label', 'Rollout % of ' + f.key);
  const rolloutCell = el('td', 'nowrap');
  rolloutCell.append(rollout, el('span', 'muted', ' %'));

  const save = testid(el('button', 'small', 'Save'), 'flag-save');
  save.type = 'button';
  const note = testid(el('span', 'flag-note muted'), 'flag-status');
  note.setAttribute('role', 'status');
  const saveCell = el('td', 'nowrap');
  saveCell.append(save, note);

  const variants = (f.variants || []).map((v) => v.key + ' (' + v.weight + ')').join(', ') || '—';
  tr.append(el('td', '', f.key), stateCell, rolloutCell, el('td', '', variants), el('td', 'num', int(a.evaluations)), el('td', 'num', int(a.exposures)), saveCell);

  const history = testid(el('details', 'history'), 'flag-history');
  const list = el('ol', 'history-list');
  history.append(el('summary', '', 'Recent changes'), list);
  history.addEventListener('toggle', () => {
    if (history.open) loadHistory(f.key, list);
  });
  const historyRow = el('tr', 'history-row');
  const historyCell = el('td');
  historyCell.colSpan = 7;
  historyCell.appendChild(history);
  historyRow.appendChild(historyCell);

  const show = () => {
    toggle.checked = !!saved.enabled;
    toggleText.textContent = saved.enabled ? 'on' : 'off';
    rollout.value = String(saved.rollout);
    save.disabled = true;
  };
  // Only the fields the admin changed are sent, so saving a toggle does not write back
  // a rollout another admin changed since this page loaded.
  const patch = () => {
    const p = {};
    if (toggle.checked !== !!saved.enabled) p.enabled = toggle.checked;
    const r = Number(rollout.value);
    if (rollout.value !== '' && r !== saved.rollout) p.rollout = r;
    return p;
  };
  const onEdit = () => {
    toggleText.textContent = toggle.checked ? 'on' : 'off';
    const r = Number(rollout.value);
    const valid = rollout.value !== '' && r >= 0 && r <= 100;
    rollout.classList.toggle('invalid', !valid);
    save.disabled = !valid || Object.keys(patch()).length === 0;
    note.textContent = save.disabled ? '' : 'unsaved';
    note.className = 'flag-note muted';
  };
  toggle.addEventListener('change', onEdit);
  rollout.addEventListener('input', onEdit);
  save.addEventListener('click', async () => {
    const p = patch();
    if (!Object.keys(p).length) return;
    save.disabled = true;
    note.textContent = 'Saving…';
    try {
      saved = await request('PUT', '/v1/admin/flags/' + encodeURIComponent(f.key), p);
      show();
      note.textContent = 'Saved';
      note.className = 'flag-note ok';
      if (history.open) loadHistory(f.key, list);
    } catch (e) {
      if (e instanceof HttpError && e.status === 401) return showSignIn('Your session has ended; sign in again.');
      note.textContent = 'Not saved: ' + e.message;
      note.className = 'flag-note error';
      save.disabled = false;
    }
  });
  show();
  return [tr, historyRow];
}

function renderFlags(flags, analytics) {
  const tbody = $('flags');
  tbody.replaceChildren();
  if (!flags.length) return emptyRow(tbody, 7, 'No flags defined');
  for (const f of flags.slice().sort((a, b) => String(a.key).localeCompare(String(b.key)))) {
    const a = Object.prototype.hasOwnProperty.call(analytics, f.key) ? analytics[f.key] : { evaluations: 0, exposures: 0 };
    tbody.append(...flagRow(f, a));
  }
}

function wire() {
  $('signin-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const input = $('token');
    const token = input.value.trim();
    if (!token) return;
    $('signin-submit').disabled = true;
    try {
      const s = await request('POST', '/admin/session', { token });
      input.value = '';
      showDashboard(s);
      await load();
    } catch (e) {
      showSignIn(e.message);
    } finally {
      $('signin-submit').disabled = false;
    }
  });
  $('logout').addEventListener('click', async () => {
    try {
      await request('POST', '/admin/logout');
    } catch (e) {
      // the cookie expires on its own; the page signs out either way
    }
    state.from = state.to = state.csrf = '';
    state.loadSeq++;
    delete $('dashboard').dataset.range;
    showSignIn('');
  });
  $('range').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const from = $('from').value;
    const to = $('to').value;
    if (from && to && from > to) return setStatus('"From" must not be after "To".', true);
    state.from = from;
    state.to = to;
    load();
  });
}

async function boot() {
  wire();
  try {
    const s = await request('GET', '/admin/session');
    showDashboard(s);
    await load();
  } catch (e) {
    if (e instanceof HttpError && e.status === 401) showSignIn('');
    else showSignIn(e.message);
  }
}

boot();
`;
