# moat's recipes. The two a newcomer needs: `just up` (run it) and `just test`.

set shell := ["bash", "-euo", "pipefail", "-c"]

# List the recipes.
default:
    @just --list

# Install what this machine lacks (system packages, Rust components, npm modules).
deps: && modules web
    bash scripts/deps.sh

# Install the example module whitelist's npm packages (modules/node_modules).
modules:
    cd modules && npm ci --no-audit --no-fund --loglevel=error

# Build the sandbox's read-only rootfs (static runner + whitelist) in .run/rootfs.
rootfs: modules
    bash scripts/rootfs.sh .run/rootfs

# The browser profile's rootfs (the runner, the whitelist and Debian's Chromium) in .run/rootfs-browser.
rootfs-browser: modules
    bash scripts/rootfs.sh .run/rootfs-browser --with-browser

# The isolation tests' copy of the rootfs, with the probe, in .run/rootfs-probe.
rootfs-probe: modules
    bash scripts/rootfs.sh .run/rootfs-probe --with-probe

# Build the web playground (CodeMirror + esbuild from npm) into web/dist, which the edge serves at `/`.
web:
    cd web && npm ci --no-audit --no-fund --loglevel=error && npm run build --silent

# Build every binary, optimised.
build:
    cargo build --release --workspace --bins

# Run the whole system on this machine (root): NATS, containerd + gVisor, a launcher,
# the recorder and the edge with the playground at http://127.0.0.1:8080/; Ctrl-C stops it.
up *args: deps rootfs rootfs-browser build
    ./target/release/moat up {{args}}

# Start nats-server (JetStream) and containerd under .run/, on loopback (idempotent; root).
infra: deps
    bash scripts/nats.sh start .run/nats 4222
    bash scripts/containerd.sh start .run/containerd

# Stop what `just infra` started, sandboxes included.
down:
    bash scripts/containerd.sh stop .run/containerd
    bash scripts/nats.sh stop .run/nats

# Run a launcher in the foreground against the local infrastructure (Ctrl-C drains).
launcher: infra rootfs build
    source .run/nats/users.env && MOAT_NATS_USER=launcher MOAT_NATS_PASSWORD=$MOAT_NATS_PASSWORD_LAUNCHER ./target/release/moat-launcher

# Run a script on the running system (`just up`): `just run examples/image.js --out out`.
run file *args:
    ./target/release/moat run {{file}} {{args}}

# Run one script through the runner on this host: `just exec examples/image.js --out out`.
exec file *args: build
    ./target/release/moat exec --modules modules {{file}} {{args}}

# Formatting and lints, warnings as errors.
lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings

# Render the Helm chart (default and production values) into .run/chart and check every object offline.
chart:
    bash scripts/chart.sh

# The sandbox tests start their own nats-server and containerd (as root) in temporary
# directories; tests/up.rs starts the whole system with `moat up` and drives the playground.
# The whole suite: lints, then every test (unit, corpus, sandbox, end to end).
test: deps lint chart rootfs rootfs-browser rootfs-probe
    cargo build --workspace --bins
    cargo test --workspace

# Every benchmark in one run, and the report in docs/performance.md (root): the
# runner vs node, a private `moat up` under load, the edge flood, the baselines
# (runsc alone, the churn floor, node + vm2 per sandbox), a pooled sandbox's memory.
bench: deps rootfs build
    bash scripts/bench.sh

# Latency and throughput at 1, 4 and 16 clients, and an edge flood, against a running
# `just up` (MOAT_BENCH_KEY: a tenant's key; MOAT_SERVER, MOAT_BENCH_SECONDS: see benches/load.rs).
bench-load:
    cargo bench -p moat-benches --bench load

# A polite client's latency, quiet and under a flood, against a running `just up`
# (MOAT_SERVER, MOAT_BENCH_RUNS, MOAT_BENCH_FLOOD_KEY: see benches/fairness.rs).
bench-fair:
    cargo bench -p moat-benches --bench fairness

# The latency one fetch gains through moat, against `just up` started with
# MOAT_EGRESS_ALLOW_NETS=127.0.0.1/32 (MOAT_BENCH_KEY: see benches/egress.rs).
bench-egress:
    cargo bench -p moat-benches --bench egress

# A Puppeteer run's round trip, warm and cold, against `just up` started with
# MOAT_EGRESS_ALLOW_NETS=127.0.0.1/32 (MOAT_BENCH_KEY: see benches/browser.rs).
bench-browser:
    cargo bench -p moat-benches --bench browser
