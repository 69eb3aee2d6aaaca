# moat's recipes. The two a newcomer needs: `just up` (run it) and `just test`.

set shell := ["bash", "-euo", "pipefail", "-c"]

# List the recipes.
default:
    @just --list

# Install what this machine lacks (system packages, Rust components, npm modules).
deps: && modules
    bash scripts/deps.sh

# Install the example module whitelist's npm packages (modules/node_modules).
modules:
    cd modules && npm ci --no-audit --no-fund --loglevel=error

# Build the sandbox's read-only rootfs (static runner + whitelist) in .run/rootfs,
# and a copy with the isolation probe for the tests in .run/rootfs-probe.
rootfs: modules
    bash scripts/rootfs.sh .run/rootfs
    bash scripts/rootfs.sh .run/rootfs-probe --with-probe

# Build every binary, optimised.
build:
    cargo build --release --workspace --bins

# Run the system. Until the launcher and edge land, this runs the example
# script through the runner on this host (no OS sandbox).
up: deps build
    ./target/release/moat exec --modules modules examples/hello.js

# Run one script through the runner on this host: `just exec examples/image.js --out out`.
exec file *args: build
    ./target/release/moat exec --modules modules {{file}} {{args}}

# Formatting and lints, warnings as errors.
lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings

# The whole suite: lints, then every test (unit, corpus, end to end). The
# sandbox tests start their own containerd (as root) in temporary directories.
test: deps lint rootfs
    cargo build --workspace --bins
    cargo test --workspace

# Benchmarks (criterion): runner start, hello module, CPU-bound script, vs node.
bench: deps
    cargo build --release -p moat-runner
    cargo bench -p moat-benches
