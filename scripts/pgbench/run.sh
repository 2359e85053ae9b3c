#!/usr/bin/env bash
# The raw PostgreSQL ceiling for omnichat's ingest transaction shape (docs/performance.md).
#   scripts/pgbench/run.sh 'postgres://user@host/db' [seconds] [clients...]
# Runs ingest.sql (with pg_notify) and ingest_nonotify.sql for each client count, with
# PostgreSQL's durable defaults (synchronous_commit on). Creates bench_* tables in that
# database; drop them afterwards (schema.sql starts with the DROP).
set -euo pipefail
url=${1:?usage: run.sh DATABASE_URL [seconds] [clients...]}
secs=${2:-10}
shift 2 || shift $#
clients=("$@")
[[ ${#clients[@]} -gt 0 ]] || clients=(4 8 16)
here=$(cd "$(dirname "$0")" && pwd)
psql -q -X -v ON_ERROR_STOP=1 "$url" -f "$here/schema.sql"
for script in ingest.sql ingest_nonotify.sql; do
	for c in "${clients[@]}"; do
		printf '%-22s clients=%-3s ' "$script" "$c"
		pgbench -n -M prepared -T "$secs" -c "$c" -j "$(( c < 2 ? c : 2 ))" -f "$here/$script" "$url" 2>&1 |
			awk '/^tps/ {tps=$3} /latency average/ {lat=$4} END {printf "tps %s  latency avg %s ms\n", tps, lat}'
	done
done
