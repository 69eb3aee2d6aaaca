#!/usr/bin/env bash
# `just bench`: every benchmark in one run on this machine, and the report.
#
#   1. the runner's criterion benchmarks (in process and as a process, vs node);
#   2. a private `moat up` (state in .run/bench, ports 18080/14222/19100) with
#      one tenant whose limits are lifted, driven by benches/load.rs;
#   3. the baselines against that system's containerd (benches/baselines.rs);
#   4. the report between the markers in docs/performance.md: the tables,
#      the ratios against the baselines, the machine, how to reproduce.
#
# Root, loopback only. Assumes `just deps rootfs build` (the recipe runs them).
set -euo pipefail
cd "$(dirname "$0")/.."
dir=.run/bench
seconds=${MOAT_BENCH_SECONDS:-15}
mkdir -p "$dir"

bash scripts/seed-rootfs.sh .run/seed-rootfs >/dev/null

# MOAT_BENCH_SKIP_RUNNER=1 skips these (the system benchmarks alone).
if [[ -z ${MOAT_BENCH_SKIP_RUNNER:-} ]]; then
  cargo bench -p moat-benches --bench runner 2>&1 | tee "$dir/runner.txt" | grep -E "time:" || true
fi

# The system under load. Its own directory and ports, so a `just up` beside it
# is left alone; the tenant's limits lifted so the benchmark measures moat,
# not its rate limits (the anonymous limits stay, for the flood).
MOAT_RATE_TENANT=100000/100000/1000 MOAT_RATE_CLIENT_PATH=100000/100000/1000 \
  MOAT_WS_PER_CLIENT=64 MOAT_TENANT_QUEUE=1000 \
  setsid target/release/moat up --dir "$dir" --listen 127.0.0.1:18080 \
  --nats-port 14222 --metrics-port 19100 >"$dir/up.log" 2>&1 &
up=$!
stop() {
  kill -INT -- "-$up" 2>/dev/null || kill -INT "$up" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$up" 2>/dev/null || return 0; sleep 0.2; done
  kill -KILL -- "-$up" 2>/dev/null || true
}
trap stop EXIT
for i in $(seq 150); do
  curl -sf http://127.0.0.1:18080/healthz >/dev/null && break
  [[ $i == 150 ]] && { echo "moat up did not start; see $dir/up.log" >&2; exit 1; }
  sleep 0.2
done
key=$(target/release/moat keys --database-url "sqlite://$PWD/$dir/moat.db?mode=rwc" \
  create --tenant bench --label "just bench" | tail -1)

MOAT_SERVER=http://127.0.0.1:18080 MOAT_BENCH_KEY=$key MOAT_BENCH_SECONDS=$seconds \
  MOAT_BENCH_OUT="$PWD/$dir/load.md" cargo bench -p moat-benches --bench load
MOAT_BENCH_DIR="$PWD/$dir" MOAT_BENCH_OUT="$PWD/$dir/baselines.md" \
  cargo bench -p moat-benches --bench baselines
curl -s http://127.0.0.1:19102/metrics | grep -E '^moat_launcher_stage_seconds_(sum|count)' >"$dir/stages.txt" || true
stop
trap - EXIT

python3 scripts/bench-report.py "$dir" docs/performance.md
echo "report written to docs/performance.md"
