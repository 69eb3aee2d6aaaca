#!/usr/bin/env bash
# Installs what moat needs on a fresh Debian machine, skipping what is there.
# Idempotent; run as root (apt). Used by `just deps`, `just up` and CI.
set -euo pipefail

need_apt=()
command -v node >/dev/null || need_apt+=(nodejs)
command -v npm >/dev/null || need_apt+=(npm)
command -v cc >/dev/null || need_apt+=(gcc)

if ((${#need_apt[@]})); then
  echo "deps: installing ${need_apt[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}"
fi

# Lints need these toolchain components.
if command -v rustup >/dev/null; then
  for component in rustfmt clippy; do
    rustup component list --installed | grep -q "^${component}" || rustup component add "$component"
  done
fi
