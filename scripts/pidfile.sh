# Sourced by the start/stop scripts: whether the server in $pidfile runs.
# It counts only if the process is alive and is ours (its command line names
# $run_dir), never an unrelated process that reused the pid.
running() {
  [[ -f $pidfile ]] || return 1
  local pid
  pid=$(cat "$pidfile")
  [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null &&
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$run_dir"
}
