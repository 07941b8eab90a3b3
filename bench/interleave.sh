#!/usr/bin/env bash
# Interleaved A/B of load scenarios: this machine's speed drifts by a factor of two to
# three between hours, so a change is compared with its base only in runs that
# alternate, base then change, round after round (docs/benchmarks.md).
#
#   git worktree add /tmp/base <base commit> && ln -s "$PWD/node_modules" /tmp/base/
#   (cd /tmp/base && npm run build) && npm run build
#   bench/interleave.sh /tmp/base 3,4,5 3        # scenarios, rounds
#
# Prints one line per scenario and run (with the service's CPU per request where the
# tree's bench reports it); bench/results/ is restored in both trees.
set -euo pipefail
base=${1:?base checkout}; scenarios=${2:?scenarios, e.g. 3,4}; rounds=${3:-3}
here=$(cd "$(dirname "$0")/.." && pwd)
for ((i = 1; i <= rounds; i++)); do
  for dir in "$base" "$here"; do
    label=$([ "$dir" = "$here" ] && echo change || echo base)
    (cd "$dir" && npx tsx bench/run.ts --only "$scenarios" --repeat 1 --skip-micro 2>&1 |
      awk -F'|' -v who="$label" -v round="$i" '
        /^\| # \|/ { for (c = 2; c < NF; c++) { h = $c; gsub(/^ +| +$/, "", h); col[h] = c } }
        /^\| [0-9]/ { gsub(/ +/, " "); cpu = ("CPU ms/req" in col) ? " CPU ms/req" $col["CPU ms/req"] : ""
          printf "round %s %-6s #%s req/s%s p50%s p99%s non-2xx%s%s overhead%s\n", round, who, $2, $col["req/s"], $col["p50 ms"], $col["p99 ms"], $col["non-2xx"], cpu, $col["overhead"] }')
    (cd "$dir" && git checkout -q -- bench/results)
  done
done
