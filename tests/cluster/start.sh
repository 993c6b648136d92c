#!/usr/bin/env bash
# Start a one-node SLURM cluster on localhost (munge, MariaDB, slurmdbd, slurmctld, slurmd) for
# depsev's CI test tests/test_slurm.py. Must run as root (CI containers are root, no systemd).
#
#   bash tests/cluster/start.sh [SCRATCH_DIR]      # default: $DEPSEV_SLURM_DIR or /tmp/depsev-slurm
#   . SCRATCH_DIR/env.sh                          # exports SLURM_CONF and DEPSEV_SLURM_* for clients
#   bash tests/cluster/stop.sh [SCRATCH_DIR]       # stops every daemon by the PID recorded here
#
# Idempotent: a daemon whose recorded PID is alive is left alone. Every wait has a timeout.
# Installs the Debian packages when missing. All state, logs, PIDs and the database live under
# SCRATCH_DIR; only munge uses its standard /etc/munge key and /run/munge socket (slurm looks there).
# Ports default to SLURM's/MariaDB's standard ones; override with DEPSEV_SLURM_{CTLD,SLURMD,DBD,DB}_PORT.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
DIR="${1:-${DEPSEV_SLURM_DIR:-/tmp/depsev-slurm}}"
CLUSTER="${DEPSEV_SLURM_CLUSTER:-depsev}"
ACCOUNT="${DEPSEV_SLURM_ACCOUNT:-depsev-ci}"
PARTITION=debug
CTLD_PORT="${DEPSEV_SLURM_CTLD_PORT:-6817}"
SLURMD_PORT="${DEPSEV_SLURM_SLURMD_PORT:-6818}"
DBD_PORT="${DEPSEV_SLURM_DBD_PORT:-6819}"
DB_PORT="${DEPSEV_SLURM_DB_PORT:-3306}"
TIMEOUT="${DEPSEV_SLURM_TIMEOUT:-60}"     # seconds to wait for each daemon

log() { echo "[slurm-start] $*" >&2; }
die() { log "ERROR: $*"; for f in "$DIR"/log/*.log; do [ -f "$f" ] && { log "--- $f"; tail -n 20 "$f" >&2; }; done; exit 1; }
[ "$(id -u)" = 0 ] || die "must run as root"

# wait_for SECONDS DESCRIPTION COMMAND...: poll COMMAND every 0.5 s until it succeeds
wait_for() {
  local secs=$1 what=$2; shift 2
  local end=$((SECONDS + secs))
  until timeout -s KILL 10 "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$end" ] || die "timed out after ${secs}s waiting for $what"
    sleep 0.5
  done
}
alive() { [ -f "$DIR/run/$1.pid" ] && kill -0 "$(cat "$DIR/run/$1.pid")" 2>/dev/null; }

# ------------------------------------------------------------------ packages
need=()
for b in munged mariadbd slurmdbd slurmctld slurmd sinfo sacct sacctmgr; do
  command -v "$b" >/dev/null 2>&1 || [ -x "/usr/sbin/$b" ] || need+=("$b")
done
if [ ${#need[@]} -gt 0 ]; then
  log "installing SLURM/munge/MariaDB (missing: ${need[*]})"
  export DEBIAN_FRONTEND=noninteractive
  timeout -s KILL 300 apt-get update -qq
  timeout -s KILL 600 apt-get install -y -qq --no-install-recommends \
    slurm-wlm slurmctld slurmd slurm-client slurmdbd munge mariadb-server >/dev/null
fi
export PATH="/usr/sbin:/sbin:$PATH"

mkdir -p "$DIR"/{etc,state,spool,run,log,db}
chmod 755 "$DIR"

# ------------------------------------------------------------------ configuration
CPUS="$(nproc)"
MEM_MB="$(awk '/MemTotal/ {printf "%d", $2 / 1024 * 0.85}' /proc/meminfo)"
DB_PASS_FILE="$DIR/etc/db.pass"
[ -s "$DB_PASS_FILE" ] || { (umask 077; head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$DB_PASS_FILE"); }
DB_PASS="$(cat "$DB_PASS_FILE")"
render() {
  sed -e "s|@DIR@|$DIR|g" -e "s|@CPUS@|$CPUS|g" -e "s|@MEM_MB@|$MEM_MB|g" -e "s|@CLUSTER@|$CLUSTER|g" \
      -e "s|@CTLD_PORT@|$CTLD_PORT|g" -e "s|@SLURMD_PORT@|$SLURMD_PORT|g" -e "s|@DBD_PORT@|$DBD_PORT|g" \
      -e "s|@DB_PORT@|$DB_PORT|g" -e "s|@DB_PASS@|$DB_PASS|g" "$1"
}
render "$HERE/slurm.conf.in" > "$DIR/etc/slurm.conf"
(umask 077; render "$HERE/slurmdbd.conf.in" > "$DIR/etc/slurmdbd.conf")
chmod 600 "$DIR/etc/slurmdbd.conf"
# every SLURM command (and slurmdbd, which reads slurmdbd.conf beside slurm.conf) uses this file
export SLURM_CONF="$DIR/etc/slurm.conf"
# ... but the slurm-jobstep plugin strips every SLURM_* variable (SLURM_CONF included) before its
# inner `srun`, which then looks only at the default /etc/slurm/slurm.conf: link ours there, unless
# a different, real configuration is already installed (then refuse rather than overwrite it).
if [ -L /etc/slurm/slurm.conf ] || [ ! -e /etc/slurm/slurm.conf ]; then
  mkdir -p /etc/slurm && ln -sfn "$SLURM_CONF" /etc/slurm/slurm.conf
elif [ "$(readlink -f /etc/slurm/slurm.conf)" != "$SLURM_CONF" ]; then
  die "/etc/slurm/slurm.conf exists and is not ours: this script is for a throw-away CI machine"
fi
cat > "$DIR/env.sh" <<ENV
export SLURM_CONF="$SLURM_CONF"
export DEPSEV_SLURM_DIR="$DIR"
export DEPSEV_SLURM_ACCOUNT="$ACCOUNT"
export DEPSEV_SLURM_PARTITION="$PARTITION"
ENV

# start_daemon NAME COMMAND...: run COMMAND in the foreground-mode of the daemon, detached, and
# record its PID in $DIR/run/NAME.pid (stop.sh kills exactly that PID).
start_daemon() {
  local name=$1; shift
  if alive "$name"; then log "$name already running (pid $(cat "$DIR/run/$name.pid"))"; return 0; fi
  log "starting $name"
  setsid nohup "$@" >>"$DIR/log/$name.out" 2>&1 < /dev/null &
  echo $! > "$DIR/run/$name.pid"
}

# ------------------------------------------------------------------ munge
if [ ! -s /etc/munge/munge.key ]; then
  log "creating a munge key"
  mungekey --create --keyfile=/etc/munge/munge.key
fi
chown munge:munge /etc/munge/munge.key; chmod 400 /etc/munge/munge.key
mkdir -p /run/munge /var/lib/munge /var/log/munge
chown munge:munge /run/munge /var/lib/munge /var/log/munge; chmod 755 /run/munge
if alive munged || timeout -s KILL 5 munge -n 2>/dev/null | timeout -s KILL 5 unmunge >/dev/null 2>&1; then
  log "munged already running"
else
  start_daemon munged setpriv --reuid=munge --regid=munge --init-groups /usr/sbin/munged --foreground --force
fi
wait_for "$TIMEOUT" munged sh -c 'munge -n | unmunge'

# ------------------------------------------------------------------ MariaDB (private datadir)
if [ ! -d "$DIR/db/mysql" ]; then
  log "initialising MariaDB in $DIR/db"
  timeout -s KILL 120 mariadb-install-db --user=root --datadir="$DIR/db" --auth-root-authentication-method=socket \
    --skip-test-db >"$DIR/log/mariadb-install.log" 2>&1 || die "mariadb-install-db failed"
fi
start_daemon mariadbd /usr/sbin/mariadbd --no-defaults --user=root --datadir="$DIR/db" \
  --socket="$DIR/run/mysql.sock" --pid-file="$DIR/run/mariadbd.own.pid" --port="$DB_PORT" \
  --bind-address=127.0.0.1 --log-error="$DIR/log/mariadbd.log" --innodb-buffer-pool-size=64M
SQL=(mariadb --no-defaults --socket="$DIR/run/mysql.sock" -uroot)
wait_for "$TIMEOUT" MariaDB "${SQL[@]}" -e 'SELECT 1'
"${SQL[@]}" -e "CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY '$DB_PASS';
  CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY '$DB_PASS';
  ALTER USER 'slurm'@'localhost' IDENTIFIED BY '$DB_PASS'; ALTER USER 'slurm'@'127.0.0.1' IDENTIFIED BY '$DB_PASS';
  GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost'; GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';
  FLUSH PRIVILEGES;" || die "could not create the slurm database user"

# ------------------------------------------------------------------ slurmdbd, then the cluster record
start_daemon slurmdbd /usr/sbin/slurmdbd -D
wait_for "$TIMEOUT" slurmdbd sacctmgr -n list cluster
if ! sacctmgr -n -P list cluster format=cluster | grep -qx "$CLUSTER"; then
  timeout -s KILL 30 sacctmgr -i add cluster "$CLUSTER" >/dev/null || die "sacctmgr add cluster failed"
fi

# ------------------------------------------------------------------ slurmctld, slurmd
start_daemon slurmctld /usr/sbin/slurmctld -D -i
wait_for "$TIMEOUT" slurmctld scontrol ping
start_daemon slurmd /usr/sbin/slurmd -D -N localhost
wait_for "$TIMEOUT" "node localhost idle" sh -c 'sinfo -h -N -o "%t" | grep -Eq "^(idle|mix|alloc)"'

# ------------------------------------------------------------------ account + user for submissions
if ! sacctmgr -n -P list account format=account | grep -qx "$ACCOUNT"; then
  timeout -s KILL 30 sacctmgr -i add account "$ACCOUNT" Cluster="$CLUSTER" >/dev/null || die "add account failed"
fi
if ! sacctmgr -n -P list assoc format=account,user | grep -qx "$ACCOUNT|root"; then
  timeout -s KILL 30 sacctmgr -i add user root Account="$ACCOUNT" Cluster="$CLUSTER" >/dev/null || die "add user failed"
fi
# slurmctld learns new associations from slurmdbd asynchronously: wait until a submission is accepted
wait_for "$TIMEOUT" "association of root with $ACCOUNT" \
  sbatch --test-only -A "$ACCOUNT" -p "$PARTITION" -t 1 --wrap true
log "cluster '$CLUSTER' up: $(sinfo -h -o '%P %a %D %t %c')  (source $DIR/env.sh)"
