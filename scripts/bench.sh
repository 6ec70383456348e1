#!/usr/bin/env bash
# The whole benchmark suite at a reduced size, for checking a change for regressions in well
# under 10 minutes on a 2-core machine. Full-size commands are in docs/PERFORMANCE.md.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${BENCH_OUT:-target/bench-quick}
mkdir -p "$out"

cargo build --release -p haggle-cli -p haggle-sim
echo "== protocol: sign / verify / encode / decode per kind"
cargo bench -p haggle-protocol --bench objects -- --warm-up-time 1 --measurement-time 2 | tee "$out/objects.txt" | grep -E "^object|^ed25519|time:"
echo "== storage: ingest rate and search latency at 10k"
HAGGLE_BENCH_SIZES=10000 cargo bench -p haggle-storage --bench store -- --warm-up-time 1 --measurement-time 2 | tee "$out/store.txt" | grep -E "thrpt|^==|p50|^one|^three|^typo|^filters|^text|rebuild|disk|open"
echo "== sync: catch-up of 2,000 missed listings, reconciliation bytes"
HAGGLE_BENCH_MISSED=2000 cargo bench -p haggle-node --bench sync | tee "$out/sync.txt" | grep -E "reconcile|catch-up|reconciliation"
echo "== simulation: 20 nodes, steady and burst; churn; partition"
for scenario in steady burst churn partition; do
    ./target/release/haggle-sim --scenario "$scenario" --nodes 20 --listings 60 --rate 20 --json > "$out/sim-$scenario.json"
    echo "$scenario: $(tr -d '\n ' < "$out/sim-$scenario.json" | cut -c1-400)"
done
echo "== one node with 20,000 listings: start-up and memory"
./target/release/haggle-sim --scenario memory --listings 20000 --json | tee "$out/memory.json"
echo "results in $out"
