#!/usr/bin/env bash
# Stop what .ci/slurm-up.sh started (slurmd, slurmctld, munged), by their pid files. Idempotent.
set -uo pipefail
for pidfile in /run/slurmd.pid /run/slurmctld.pid /run/munge/munged.pid; do
  if [ -f "$pidfile" ] && pid=$(cat "$pidfile") && kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
done
# The slurm.conf that slurm-up.sh wrote goes too (a site's own file has no marker and stays): with a
# config but no controller, every `scontrol` waits ~9 s to connect, and Snakemake's SLURM plugin runs
# `scontrol show config` on import, so each later `snakemake` call, local ones included, would pay it.
CONF=/etc/slurm/slurm.conf
if [ -f "$CONF" ] && grep -qF "# written by l2l .ci/slurm-up.sh" "$CONF"; then
  rm -f "$CONF"
fi
echo "slurm-down: stopped"
