#!/usr/bin/env bash
# Builds the sandbox's read-only root filesystem: the statically linked
# moat-runner, the module whitelist (bundled: scripts/bundle-modules.mjs), and
# empty mount points. Nothing else of the host goes in.
#
#   scripts/rootfs.sh [OUT_DIR] [--with-probe | --with-browser]   # default .run/rootfs
#
# --with-probe adds moat-probe, the isolation tests' stand-in for a subverted
# runner; production rootfs directories never hold it. --with-browser adds
# Chromium (scripts/rootfs-browser.sh): the browser profile's rootfs.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(realpath -m "${1:-.run/rootfs}")
probe=${2:-}
target=x86_64-unknown-linux-gnu
packages=(-p moat-runner)
[[ $probe == --with-probe ]] && packages+=(-p moat-probe)

# Static glibc build: the rootfs has no libc to link against. --target keeps
# these flags away from build scripts and the host build's cache.
RUSTFLAGS="-C target-feature=+crt-static" \
  cargo build --release --quiet "${packages[@]}" --target "$target"

rm -rf "$out.new"
mkdir -p "$out.new"/{proc,dev,tmp,modules}
install -m 0555 "target/$target/release/moat-runner" "$out.new/moat-runner"
[[ $probe == --with-probe ]] && install -m 0555 "target/$target/release/moat-probe" "$out.new/moat-probe"
if [[ -d modules/node_modules ]]; then
  # One bundle per whitelisted specifier: one file open per import in gVisor.
  node scripts/bundle-modules.mjs modules "$out.new/modules"
else
  echo '{}' >"$out.new/modules/modules.json"
fi
chmod -R a+rX,go-w "$out.new"
# After the chmod: Chromium's files may be hard links to the host's own.
[[ $probe == --with-browser ]] && bash scripts/rootfs-browser.sh "$out.new"
rm -rf "$out"
mv "$out.new" "$out"
echo "$out"
