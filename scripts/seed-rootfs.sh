#!/usr/bin/env bash
# Builds the baseline rootfs for benches/baselines.rs: the seed article's
# architecture, node running each script in vm2 (benches/seed), with only
# the shared libraries node links against. Not a sandbox moat uses.
#
#   scripts/seed-rootfs.sh [OUT_DIR]   # default .run/seed-rootfs
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(realpath -m "${1:-.run/seed-rootfs}")
node=$(command -v node)
(cd benches/seed && npm ci --no-audit --no-fund --loglevel=error)
rm -rf "$out.new"
mkdir -p "$out.new"/{proc,dev,tmp,seed,bin}
install -m 0555 "$node" "$out.new/bin/node"
# The loader and every library node needs, at the paths it looks for them.
for lib in $(ldd "$node" | grep -o '/[^ ]*'); do
  mkdir -p "$out.new$(dirname "$lib")"
  cp -L "$lib" "$out.new$lib"
done
cp -r benches/seed/run.js benches/seed/node_modules "$out.new/seed/"
chmod -R a+rX,go-w "$out.new"
rm -rf "$out"
mv "$out.new" "$out"
echo "$out"
