// Dashboard styles, served as /admin/app.css (the CSP allows no inline styles).
// System fonts only: the page must render with no network beyond this origin.
export const DASHBOARD_STYLES = `
:root {
  --bg: #f5f7fa; --card: #ffffff; --ink: #1c2330; --muted: #667085; --line: #e4e7ec;
  --accent: #3b5bdb; --ok: #2b8a3e; --warn: #e67700; --bad: #c92a2a;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", "DejaVu Sans", Arial, sans-serif;
  font-size: 14px; color: var(--ink); background: var(--bg);
}
* { box-sizing: border-box; }
body { margin: 0; }
[hidden] { display: none !important; }
.muted { color: var(--muted); }
code { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, monospace; font-size: 0.92em; }

.topbar { display: flex; align-items: center; justify-content: space-between; padding: 12px 24px; background: #111827; color: #f9fafb; }
.brand { display: flex; align-items: center; gap: 10px; font-weight: 600; font-size: 16px; }
.brand .muted { color: #9ca3af; font-weight: 400; font-size: 13px; }
.logo { display: inline-grid; place-items: center; width: 28px; height: 28px; border-radius: 7px; background: var(--accent); font-size: 13px; letter-spacing: 0.5px; }
.who { display: flex; align-items: center; gap: 8px; }
.who .muted { color: #9ca3af; }

main { max-width: 1280px; margin: 0 auto; padding: 20px 24px 8px; }
footer { max-width: 1280px; margin: 0 auto; padding: 8px 24px 24px; font-size: 12px; }

.card { background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: 16px 18px; box-shadow: 0 1px 2px rgba(16, 24, 40, 0.04); min-width: 0; overflow-x: auto; } /* a table wider than its card scrolls inside it, never under the next card */
.card h2 { margin: 0 0 12px; font-size: 13px; font-weight: 600; text-transform: uppercase; letter-spacing: 0.04em; color: var(--muted); }
h1 { font-size: 20px; margin: 0 0 8px; }

.grid { display: grid; gap: 16px; margin-bottom: 16px; }
.grid.charts, .grid.two { grid-template-columns: repeat(2, minmax(0, 1fr)); }
.grid.three { grid-template-columns: repeat(3, minmax(0, 1fr)); }
@media (max-width: 1279px) { .grid.three { grid-template-columns: repeat(2, minmax(0, 1fr)); } } /* three tables side by side need the full width */
@media (max-width: 900px) { .grid.charts, .grid.two, .grid.three { grid-template-columns: 1fr; } }
@media (max-width: 600px) {
  .topbar { flex-wrap: wrap; gap: 8px; padding: 10px 12px; }
  main { padding: 16px 12px 8px; }
  footer { padding: 8px 12px 24px; }
}

button, .button { font: inherit; border: 1px solid var(--accent); background: var(--accent); color: #fff; border-radius: 7px; padding: 7px 14px; cursor: pointer; text-decoration: none; display: inline-block; }
button:hover, .button:hover { filter: brightness(1.08); }
.ghost { background: transparent; color: inherit; border-color: currentColor; }
.toolbar .ghost { color: var(--accent); }
input { font: inherit; padding: 7px 9px; border: 1px solid var(--line); border-radius: 7px; background: #fff; color: var(--ink); }
input:focus { outline: 2px solid rgba(59, 91, 219, 0.35); border-color: var(--accent); }

.signin { max-width: 460px; margin: 48px auto; }
.signin form { display: grid; gap: 8px; margin-top: 16px; }
.signin label { font-weight: 600; }
.error { color: var(--bad); margin: 4px 0 0; }

.toolbar { display: flex; flex-wrap: wrap; align-items: center; gap: 12px; margin-bottom: 16px; }
.toolbar label { display: flex; align-items: center; gap: 6px; color: var(--muted); }
.toolbar #status { flex: 1; }

.kpis { display: grid; grid-template-columns: repeat(6, minmax(0, 1fr)); gap: 12px; margin-bottom: 16px; }
@media (max-width: 1100px) { .kpis { grid-template-columns: repeat(3, minmax(0, 1fr)); } }
@media (max-width: 600px) { .kpis { grid-template-columns: repeat(2, minmax(0, 1fr)); } }
.kpi { background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: 14px 16px; display: flex; flex-direction: column; gap: 6px; min-width: 0; }
.kpi-label { color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: 0.04em; }
.kpi-value { font-size: 22px; font-weight: 650; font-variant-numeric: tabular-nums; overflow-wrap: anywhere; }

.chart svg { display: block; width: 100%; height: auto; }
.chart .axis { font-size: 10px; fill: var(--muted); }
.chart .grid-line { stroke: var(--line); stroke-width: 1; }
.chart .empty { font-size: 13px; fill: var(--muted); }
.legend { display: flex; flex-wrap: wrap; gap: 6px 14px; margin-top: 8px; font-size: 12px; color: var(--muted); }
.legend span { display: inline-flex; align-items: center; gap: 6px; overflow-wrap: anywhere; }
.swatch { width: 10px; height: 10px; border-radius: 2px; display: inline-block; flex: none; }

.table { width: 100%; border-collapse: collapse; font-variant-numeric: tabular-nums; table-layout: auto; }
.table th, .table td { text-align: left; padding: 7px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
.table th { font-size: 12px; color: var(--muted); font-weight: 600; }
.table td { overflow-wrap: break-word; }
.table td.user { overflow-wrap: anywhere; min-width: 8em; } /* ids can be one long word */
.table .num { text-align: right; white-space: nowrap; }
.table.compact th, .table.compact td { padding: 5px 6px; }
.table.compact th:first-child, .table.compact td:first-child { padding-left: 0; } /* flush with the card, so the three side by side fit */
.table.compact th:last-child, .table.compact td:last-child { padding-right: 0; }
.table tr:last-child td { border-bottom: 0; }
.table .empty-row td { color: var(--muted); text-align: center; }

.budget { margin-bottom: 14px; }
.budget-head { display: flex; flex-wrap: wrap; justify-content: space-between; gap: 0 8px; margin-bottom: 5px; font-size: 13px; }
.budget-head .muted { font-variant-numeric: tabular-nums; white-space: nowrap; }
.bar { height: 10px; background: #eef1f6; border-radius: 5px; overflow: hidden; }
.bar-fill { height: 100%; width: 0; background: var(--ok); border-radius: 5px; }
.bar-fill.warn { background: var(--warn); }
.bar-fill.bad { background: var(--bad); }

.stats { display: grid; grid-template-columns: auto 1fr; gap: 6px 14px; margin: 0; }
.stats dt { color: var(--muted); }
.stats dd { margin: 0; text-align: right; font-variant-numeric: tabular-nums; overflow-wrap: anywhere; }
.badge { display: inline-block; padding: 2px 9px; border-radius: 999px; font-size: 12px; font-weight: 600; background: #eef1f6; color: var(--ink); }
.badge.ok { background: #e6f4ea; color: var(--ok); }
.badge.warn { background: #fff4e0; color: var(--warn); }
.badge.bad { background: #fdecec; color: var(--bad); }

.card h3.sub { margin: 14px 0 6px; font-size: 12px; font-weight: 600; color: var(--muted); }
.card .table.compact { margin-top: 10px; }
.reasons { margin: 0; padding-left: 20px; }
.reasons li { margin: 2px 0; overflow-wrap: anywhere; }
.note { margin: 10px 0 0; font-size: 12px; }
.nowrap { white-space: nowrap; }

.flags td { vertical-align: middle; }
.flags input.rollout { width: 5.5em; padding: 4px 6px; text-align: right; }
.flags input.invalid { border-color: var(--bad); }
button.small { padding: 4px 12px; font-size: 13px; }
button:disabled { opacity: 0.45; cursor: default; filter: none; }
.flag-note { margin-left: 8px; font-size: 12px; }
.flag-note.ok { color: var(--ok); }
.flag-note.error { color: var(--bad); }

/* A checkbox drawn as a switch; it stays a real checkbox for keyboards and screen readers. */
.switch-label { display: inline-flex; align-items: center; gap: 8px; cursor: pointer; }
input.switch { appearance: none; -webkit-appearance: none; width: 34px; height: 20px; margin: 0; padding: 0; border-radius: 10px; border: 0; background: #cfd4dc; position: relative; cursor: pointer; transition: background 0.15s; }
input.switch::after { content: ""; position: absolute; top: 2px; left: 2px; width: 16px; height: 16px; border-radius: 50%; background: #fff; box-shadow: 0 1px 2px rgba(0, 0, 0, 0.25); transition: left 0.15s; }
input.switch:checked { background: var(--ok); }
input.switch:checked::after { left: 16px; }
.switch-text { min-width: 2em; font-weight: 600; }

.table .history-row td { padding-top: 0; }
.table tr.flag-row td { border-bottom: 0; }
details.history summary { cursor: pointer; color: var(--accent); font-size: 12px; }
.history-list { margin: 6px 0 4px; padding-left: 20px; font-size: 13px; }
.history-list li { margin: 3px 0; overflow-wrap: anywhere; }
.history-list time { margin-right: 4px; font-variant-numeric: tabular-nums; }
`;
