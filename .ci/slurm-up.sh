#!/usr/bin/env bash
# Start a single-node SLURM cluster on 127.0.0.1 (munge + slurmctld + slurmd), for CI and tests.
# Idempotent: does nothing when the node already answers. Needs root and Debian's packages
# `slurmctld slurmd slurm-client munge`. Recipe and pitfalls: docs/slurm.md.
# Exit codes: 0 up, 3 not installed / not root (callers skip), 1 failed to come up (callers fail).
set -euo pipefail

for tool in slurmctld slurmd sbatch squeue sinfo munged munge; do
  if ! command -v "$tool" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$tool" ]; then
    echo "slurm-up: $tool is not installed (apt-get install --no-install-recommends slurmctld slurmd slurm-client munge)" >&2
    exit 3
  fi
done
if [ "$(id -u)" -ne 0 ]; then
  echo "slurm-up: must run as root to start munged, slurmctld and slurmd" >&2
  exit 3
fi

node_up() { sinfo -h -o %T 2>/dev/null | grep -qE '^(idle|mixed|allocated|completing)'; }
if node_up; then
  echo "slurm-up: already running"
  exit 0
fi

# munge: authentication between the SLURM daemons and clients
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
  [ -s /etc/munge/munge.key ] || /usr/sbin/mungekey --create --keyfile=/etc/munge/munge.key
  chown munge:munge /etc/munge/munge.key && chmod 400 /etc/munge/munge.key
  mkdir -p /run/munge /var/log/munge /var/lib/munge
  chown munge:munge /run/munge /var/log/munge /var/lib/munge
  chmod 755 /run/munge
  runuser -u munge -- /usr/sbin/munged
  for _ in $(seq 50); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.1; done
  munge -n | unmunge >/dev/null || { echo "slurm-up: munged did not start" >&2; exit 1; }
fi

# slurm.conf: written unless a site's own file is there (ours carries the marker line)
CONF=/etc/slurm/slurm.conf
MARKER="# written by l2l .ci/slurm-up.sh"
if [ ! -f "$CONF" ] || grep -qF "$MARKER" "$CONF"; then
  host=$(hostname -s)
  node=$(/usr/sbin/slurmd -C | head -n 1 | sed -E 's/^NodeName=[^ ]+ //')
  mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm
  cat > "$CONF" <<CONFEOF
$MARKER
ClusterName=l2lci
SlurmctldHost=${host}(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1000
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
JobAcctGatherType=jobacct_gather/none
# squeue must still see finished jobs when the Snakemake plugin asks (it polls with squeue)
MinJobAge=300
ReturnToService=2
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
NodeName=${host} NodeAddr=127.0.0.1 ${node} State=UNKNOWN
PartitionName=debug Nodes=${host} Default=YES MaxTime=INFINITE State=UP
CONFEOF
fi

pgrep -F /run/slurmctld.pid >/dev/null 2>&1 || /usr/sbin/slurmctld
pgrep -F /run/slurmd.pid >/dev/null 2>&1 || /usr/sbin/slurmd
for _ in $(seq 120); do
  if node_up; then
    echo "slurm-up: node $(hostname -s) idle on 127.0.0.1"
    exit 0
  fi
  sleep 0.5
done
echo "slurm-up: node did not come up; see /var/log/slurm/slurmctld.log and slurmd.log" >&2
sinfo >&2 || true
exit 1
