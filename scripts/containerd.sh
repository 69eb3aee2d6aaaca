#!/usr/bin/env bash
# Starts or stops a project-owned containerd (own config, root, state and
# socket under a run directory), installing containerd, runc and runsc from
# Debian if they are missing. Idempotent. Needs root.
#
#   scripts/containerd.sh start [RUN_DIR]   # default RUN_DIR: .run/containerd
#   scripts/containerd.sh stop  [RUN_DIR]
#   scripts/containerd.sh status [RUN_DIR]
#   scripts/containerd.sh run   [RUN_DIR]   # in the foreground (`moat up` supervises it)
#
# Prints the socket path on start. The runsc wrapper is written to
# RUN_DIR/runsc-moat: containerd's runc v2 shim runs it as the OCI runtime
# (per-container option binary_name), which is how gVisor is used without a
# runsc shim. It adds --network=none (no network stack at all inside, not even
# a sandboxed one) and pins the ptrace platform, the one that works on these
# machines (kvm hangs).
set -euo pipefail

cmd=${1:-status}
run_dir=$(realpath -m "${2:-.run/containerd}")
sock="$run_dir/containerd.sock"
pidfile="$run_dir/containerd.pid"

# shellcheck source=scripts/pidfile.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/pidfile.sh"

install_missing() {
  local need=()
  command -v containerd >/dev/null || need+=(containerd)
  command -v runc >/dev/null || need+=(runc)
  command -v runsc >/dev/null || need+=(runsc)
  if ((${#need[@]})); then
    echo "containerd.sh: installing ${need[*]}" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >&2
  fi
}

# Installs what is missing and writes the runsc wrapper and the config.
prepare() {
  install_missing
  mkdir -p "$run_dir"/{root,state,opt,runsc}
  cat >"$run_dir/runsc-moat" <<WRAP
#!/bin/sh
exec $(command -v runsc) --network=none --platform=ptrace --root=$run_dir/runsc "\$@"
WRAP
  chmod 755 "$run_dir/runsc-moat"
  cat >"$run_dir/config.toml" <<CONF
version = 2
root = "$run_dir/root"
state = "$run_dir/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$sock"
[ttrpc]
  address = "$sock.ttrpc"
[debug]
  level = "warn"
[plugins."io.containerd.internal.v1.opt"]
  path = "$run_dir/opt"
CONF
}

# Ends the sandboxes and shims of this run directory: they outlive
# containerd (matched by its own paths, never by program name alone).
end_sandboxes() {
  if [[ -d $run_dir/runsc ]] && command -v runsc >/dev/null; then
    for id in $(runsc --root "$run_dir/runsc" list -quiet 2>/dev/null); do
      runsc --root "$run_dir/runsc" delete -force "$id" >/dev/null 2>&1 || true
    done
  fi
  pkill -KILL -f -- "-address $sock" 2>/dev/null || true
  # A sandbox runsc no longer lists (its shim died mid-create, say) still
  # names this state directory on its command line: end it too.
  pkill -KILL -f -- "--root=$run_dir/runsc" 2>/dev/null || true
}

case $cmd in
run)
  if running; then
    echo "containerd.sh: a containerd already runs for $run_dir (pid $(cat "$pidfile"))" >&2
    exit 1
  fi
  prepare
  echo $$ >"$pidfile"
  # Not exec'd: when this script is told to stop (by `moat up`, or by the
  # parent-death signal when `moat up` itself was killed), containerd stops
  # and then the sandboxes and shims it leaves are ended too.
  containerd --config "$run_dir/config.toml" &
  child=$!
  trap 'kill -TERM "$child" 2>/dev/null || true' TERM INT HUP
  status=0
  wait "$child" || status=$?
  # A trapped signal ends the first wait early: wait for containerd itself.
  while kill -0 "$child" 2>/dev/null; do wait "$child" || status=$?; done
  end_sandboxes
  rm -f "$pidfile"
  exit "$status"
  ;;
start)
  if running; then echo "$sock"; exit 0; fi
  prepare
  containerd --config "$run_dir/config.toml" >"$run_dir/containerd.log" 2>&1 &
  echo $! >"$pidfile"
  for _ in $(seq 100); do
    [[ -S $sock ]] && { echo "$sock"; exit 0; }
    running || break
    sleep 0.05
  done
  echo "containerd.sh: containerd did not start; see $run_dir/containerd.log" >&2
  tail -5 "$run_dir/containerd.log" >&2 || true
  exit 1
  ;;
stop)
  end_sandboxes
  if running; then
    pid=$(cat "$pidfile")
    kill "$pid"
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile"
  ;;
status)
  if running; then echo "running: $sock"; else echo "stopped"; exit 1; fi
  ;;
*)
  echo "usage: $0 start|stop|status|run [RUN_DIR]" >&2
  exit 2
  ;;
esac
