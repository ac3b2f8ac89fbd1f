#!/usr/bin/env bash
# Stop what .ci/slurm-up.sh started (slurmd, slurmctld, munged), by their pid files. Idempotent.
set -uo pipefail
for pidfile in /run/slurmd.pid /run/slurmctld.pid /run/munge/munged.pid; do
  if [ -f "$pidfile" ] && pid=$(cat "$pidfile") && kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
done
echo "slurm-down: stopped"
