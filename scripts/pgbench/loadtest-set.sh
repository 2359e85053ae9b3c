#!/usr/bin/env bash
# One set of end-to-end measurements for docs/performance.md: the simple path and group
# commit at 1,000/s and beyond, each on a fresh database, with the CPU both sides used.
#   scripts/pgbench/loadtest-set.sh BIN 'postgres://postgres@127.0.0.1:55432' PGDATA PREFIX
# BIN is a built omnichat-dev (make build: bin/omnichat-dev); the URL a server without a database name (runs create
# PREFIX1…PREFIX5 there); PGDATA that server's data directory (for its CPU time).
set -euo pipefail
bin=${1:?usage: loadtest-set.sh BIN SERVER_URL PGDATA PREFIX}
server=${2:?}; pgdata=${3:?}; prefix=${4:?}
here=$(cd "$(dirname "$0")" && pwd)
i=0
for args in "--group-commit=false --rate 1000" "--rate 1000" "--group-commit=false --rate 3000" "--rate 3000" "--rate 5000"; do
	i=$((i + 1))
	db=$prefix$i
	psql -q -X "$server/postgres" -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" 2>/dev/null
	echo "### omnichat-dev loadtest --inprocess $args --duration 5s --concurrency 128   ($(uptime | sed 's/.*load/load/'))"
	p0=$("$here/pgcpu.sh" "$pgdata")
	# shellcheck disable=SC2086 # args is a list of flags
	OMNICHAT_DATABASE_URL="$server/$db" "$bin" loadtest --inprocess $args --duration 5s --concurrency 128 2>&1 |
		grep -E '^(rate|sent|webhook|stored|this process|group commit|error)' || true
	sleep 1
	p1=$("$here/pgcpu.sh" "$pgdata")
	awk -v a="$p0" -v b="$p1" 'BEGIN { printf "postgresql used %.2fs of CPU\n", b - a }'
done
