#!/usr/bin/env bash
# Stop the one-node CI cluster started by tests/cluster/start.sh: each daemon by the PID recorded
# in SCRATCH_DIR/run/<name>.pid, newest first (SIGTERM, then SIGKILL after a timeout).
# Idempotent: missing or dead PIDs are skipped. `--purge` also deletes SCRATCH_DIR.
#   bash tests/cluster/stop.sh [SCRATCH_DIR] [--purge]
set -uo pipefail
DIR="${DEPSEV_SLURM_DIR:-/tmp/depsev-slurm}"
PURGE=0
for a in "$@"; do
  case "$a" in --purge) PURGE=1 ;; *) DIR="$a" ;; esac
done
GRACE="${DEPSEV_SLURM_STOP_TIMEOUT:-20}"

stop_one() {
  local name=$1 f="$DIR/run/$1.pid" pid
  [ -f "$f" ] || return 0
  pid="$(cat "$f")"
  if kill -0 "$pid" 2>/dev/null; then
    echo "[slurm-stop] stopping $name (pid $pid)" >&2
    kill -TERM "$pid" 2>/dev/null
    local end=$((SECONDS + GRACE))
    while kill -0 "$pid" 2>/dev/null && [ "$SECONDS" -lt "$end" ]; do sleep 0.3; done
    if kill -0 "$pid" 2>/dev/null; then
      echo "[slurm-stop] $name did not stop in ${GRACE}s: SIGKILL" >&2
      kill -KILL "$pid" 2>/dev/null
    fi
  fi
  rm -f "$f"
}
for name in slurmd slurmctld slurmdbd mariadbd munged; do stop_one "$name"; done
# the link start.sh made for the jobstep plugin's inner srun (only when it points to our file)
if [ -L /etc/slurm/slurm.conf ] && [ "$(readlink /etc/slurm/slurm.conf)" = "$DIR/etc/slurm.conf" ]; then
  rm -f /etc/slurm/slurm.conf
fi
if [ "$PURGE" = 1 ] && [ -d "$DIR" ]; then rm -rf "$DIR"; fi
exit 0
