// The dashboard shell. Kept as a string module so `tsc` ships it in dist/ with the
// rest of the code (it copies no other files). Nothing here is dynamic: data is put in
// by /admin/app.js with textContent, and there is no inline script or style (CSP).
export const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>tutorgate · admin</title>
<link rel="icon" type="image/svg+xml" href="/admin/favicon.svg">
<link rel="stylesheet" href="/admin/app.css">
<script type="module" src="/admin/app.js"></script>
</head>
<body>
<header class="topbar">
  <div class="brand"><span class="logo" aria-hidden="true">tg</span><span>tutorgate</span><span class="muted">analytics &amp; operations</span></div>
  <div class="who" id="who" hidden>
    <span class="muted">Signed in as</span> <strong id="who-user" data-testid="signed-in-user"></strong>
    <button type="button" id="logout" class="ghost" data-testid="logout">Sign out</button>
  </div>
</header>

<main>
  <section id="signin" class="signin card" hidden>
    <h1>Admin sign-in</h1>
    <p class="muted">Paste an administrator API key (<code>tg_…</code>) or a JWT. It is exchanged for an 8-hour session cookie and not stored in the page.</p>
    <form id="signin-form" autocomplete="off">
      <label for="token">API key or JWT</label>
      <input id="token" name="token" type="password" required spellcheck="false" autocomplete="off" data-testid="token-input">
      <button type="submit" id="signin-submit" data-testid="signin-submit">Sign in</button>
      <p id="signin-error" class="error" role="alert" data-testid="signin-error" hidden></p>
    </form>
  </section>

  <section id="dashboard" hidden>
    <form id="range" class="toolbar">
      <label>From <input type="date" id="from" data-testid="range-from"></label>
      <label>To <input type="date" id="to" data-testid="range-to"></label>
      <button type="submit" data-testid="range-apply">Apply</button>
      <span id="status" class="muted" role="status" data-testid="status"></span>
      <a id="csv" class="button ghost" href="/v1/admin/usage?groupBy=user,feature,model,day&amp;format=csv" download="usage.csv" data-testid="csv-export">Export CSV</a>
    </form>

    <div class="kpis">
      <div class="kpi"><span class="kpi-label">Cost</span><span class="kpi-value" id="total-cost" data-testid="total-cost">–</span></div>
      <div class="kpi"><span class="kpi-label">Calls</span><span class="kpi-value" id="total-calls" data-testid="total-calls">–</span></div>
      <div class="kpi"><span class="kpi-label">Input tokens</span><span class="kpi-value" id="total-input-tokens" data-testid="total-input-tokens">–</span></div>
      <div class="kpi"><span class="kpi-label">Output tokens</span><span class="kpi-value" id="total-output-tokens" data-testid="total-output-tokens">–</span></div>
      <div class="kpi"><span class="kpi-label">Cache read tokens</span><span class="kpi-value" id="total-cache-read-tokens" data-testid="total-cache-read-tokens">–</span></div>
      <div class="kpi"><span class="kpi-label">Cache write tokens</span><span class="kpi-value" id="total-cache-write-tokens" data-testid="total-cache-write-tokens">–</span></div>
    </div>

    <div class="grid charts">
      <section class="card"><h2>Cost per day by feature</h2><div class="chart" id="chart-cost-feature" data-testid="chart-cost-feature"></div></section>
      <section class="card"><h2>Tokens per day by feature</h2><div class="chart" id="chart-tokens-feature" data-testid="chart-tokens-feature"></div></section>
      <section class="card"><h2>Cost per day by model</h2><div class="chart" id="chart-cost-model" data-testid="chart-cost-model"></div></section>
      <section class="card"><h2>Tokens per day by model</h2><div class="chart" id="chart-tokens-model" data-testid="chart-tokens-model"></div></section>
    </div>

    <div class="grid two">
      <section class="card">
        <h2>Top users by cost</h2>
        <table class="table" data-testid="top-users">
          <thead><tr><th>User</th><th class="num">Calls</th><th class="num">Input</th><th class="num">Output</th><th class="num">Cost</th></tr></thead>
          <tbody id="top-users"></tbody>
        </table>
      </section>
      <section class="card">
        <h2>Budgets</h2>
        <div id="budgets" data-testid="budgets"></div>
      </section>
    </div>

    <div class="grid three">
      <section class="card">
        <h2>Cache</h2>
        <dl class="stats" id="cache" data-testid="cache"></dl>
      </section>
      <section class="card">
        <h2>Upstream LLM</h2>
        <dl class="stats" id="llm" data-testid="llm"></dl>
      </section>
      <section class="card">
        <h2>Tier limits</h2>
        <table class="table compact"><thead><tr><th>Tier</th><th class="num">Req/min</th><th class="num">Req/h</th><th class="num">Tokens/day</th><th class="num">Concurrent</th></tr></thead><tbody id="limits"></tbody></table>
      </section>
    </div>

    <div class="grid three">
      <section class="card">
        <h2>Cache savings</h2>
        <dl class="stats" id="savings" data-testid="savings"></dl>
        <table class="table compact"><thead><tr><th>Feature</th><th class="num">Hits</th><th class="num">Misses</th><th class="num">Tokens saved</th><th class="num">Saved</th></tr></thead><tbody id="cache-features" data-testid="cache-features"></tbody></table>
      </section>
      <section class="card">
        <h2>Rate limiter</h2>
        <table class="table compact"><thead><tr><th>Tier</th><th class="num">Allowed</th><th class="num">Rejected</th><th class="num">Rejected %</th></tr></thead><tbody id="limiter" data-testid="limiter"></tbody></table>
      </section>
      <section class="card">
        <h2>Premium answers</h2>
        <dl class="stats" id="answers" data-testid="answers"></dl>
        <h3 class="sub">Top fallback reasons</h3>
        <ol class="reasons" id="fallback-reasons" data-testid="fallback-reasons"></ol>
      </section>
    </div>

    <section class="card">
      <h2>Feature flags</h2>
      <table class="table flags" data-testid="flags">
        <thead><tr><th>Flag</th><th>State</th><th>Rollout</th><th>Variants</th><th class="num">Evaluations</th><th class="num">Exposures</th><th></th></tr></thead>
        <tbody id="flags"></tbody>
      </table>
      <p class="muted note">Saving changes the flag on every instance within a second; each change is recorded with your user id.</p>
    </section>
  </section>
</main>
<footer class="muted">Figures come from the usage rollup (UTC days); cache, limiter, answer, breaker and flag counters are this instance's since start.</footer>
</body>
</html>
`;
