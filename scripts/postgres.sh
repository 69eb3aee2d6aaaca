#!/usr/bin/env bash
# Starts or stops a project-owned PostgreSQL cluster on loopback, for tests
# and `just up` with PostgreSQL: initdb into RUN_DIR (as the `postgres` user
# when run as root, since initdb refuses root), listening on 127.0.0.1:PORT
# only, trust authentication for loopback (a test cluster: nothing else can
# reach it), fsync off. Uses Debian's newest /usr/lib/postgresql/*/bin
# (scripts/deps.sh installs the `postgresql` package). Idempotent.
#
#   scripts/postgres.sh start [RUN_DIR] [PORT]   # defaults: .run/postgres 5432; prints the URL
#   scripts/postgres.sh stop  [RUN_DIR]
#   scripts/postgres.sh status [RUN_DIR]
set -euo pipefail

cmd=${1:-status}
run_dir=$(realpath -m "${2:-.run/postgres}")
port=${3:-5432}
data="$run_dir/data"

bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
if [[ -z $bin || ! -x $bin/initdb ]]; then
  echo "postgres.sh: no /usr/lib/postgresql/*/bin/initdb: install postgresql (scripts/deps.sh)" >&2
  exit 1
fi

# initdb and postgres refuse to run as root.
as_owner=()
if [[ $(id -u) == 0 ]]; then as_owner=(runuser -u postgres --); fi

running() { [[ -f $data/postmaster.pid ]] && "${as_owner[@]}" "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; }

case $cmd in
start)
  if running; then cat "$run_dir/url"; exit 0; fi
  mkdir -p "$run_dir"
  if [[ $(id -u) == 0 ]]; then chown postgres: "$run_dir"; fi
  if [[ ! -f $data/PG_VERSION ]]; then
    "${as_owner[@]}" "$bin/initdb" -D "$data" -U postgres -E UTF8 --no-sync \
      --auth-local=trust --auth-host=trust >"$run_dir/initdb.log" 2>&1 || {
      echo "postgres.sh: initdb failed; see $run_dir/initdb.log" >&2
      tail -5 "$run_dir/initdb.log" >&2 || true
      exit 1
    }
  fi
  if ! "${as_owner[@]}" "$bin/pg_ctl" -D "$data" -l "$run_dir/postgres.log" -w -t 30 \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $run_dir -c fsync=off -c full_page_writes=off" \
    start >/dev/null; then
    echo "postgres.sh: postgres did not start; see $run_dir/postgres.log" >&2
    tail -5 "$run_dir/postgres.log" >&2 || true
    exit 1
  fi
  echo "postgres://postgres@127.0.0.1:$port/postgres" | tee "$run_dir/url"
  ;;
stop)
  if running; then
    "${as_owner[@]}" "$bin/pg_ctl" -D "$data" -m fast -w -t 30 stop >/dev/null ||
      "${as_owner[@]}" "$bin/pg_ctl" -D "$data" -m immediate stop >/dev/null || true
  fi
  ;;
status)
  if running; then echo "running: $(cat "$run_dir/url")"; else echo "stopped"; exit 1; fi
  ;;
*)
  echo "usage: $0 start|stop|status [RUN_DIR] [PORT]" >&2
  exit 2
  ;;
esac
