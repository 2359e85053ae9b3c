#!/usr/bin/env bash
# CPU seconds a PostgreSQL cluster has used so far: the postmaster's own, its exited (reaped)
# children's, and its live children's. Take it before and after a run; the difference is the
# cluster's CPU for that run. Needs the cluster on this machine.
#   scripts/pgbench/pgcpu.sh /tmp/ltpg/data
set -euo pipefail
pm=$(head -1 "${1:?usage: pgcpu.sh PGDATA}/postmaster.pid")
ticks=0
# /proc/PID/stat after "(comm) ": index 11 utime, 12 stime, 13 cutime, 14 cstime.
read -r -a f < <(sed 's/.*) //' "/proc/$pm/stat")
ticks=$(( f[11] + f[12] + f[13] + f[14] ))
for c in $(pgrep -P "$pm"); do
	if read -r -a g < <(sed 's/.*) //' "/proc/$c/stat" 2>/dev/null); then
		ticks=$(( ticks + g[11] + g[12] ))
	fi
done
awk -v t="$ticks" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f\n", t / hz }'
