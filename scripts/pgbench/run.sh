#!/usr/bin/env bash
# The raw PostgreSQL ceiling for omnichat's ingest transaction shape (docs/performance.md).
#   scripts/pgbench/run.sh 'postgres://user@host/db' [seconds] [clients...]
# Runs, for each client count and with PostgreSQL's durable defaults (synchronous_commit on):
#   ingest.sql           one message per transaction, with pg_notify (the simple path)
#   ingest_nonotify.sql  the same without pg_notify
#   ingest_batch16.sql   16 messages per transaction and one pg_notify (group commit);
#                        its messages/s is 16 × tps
# Creates bench_* tables in that database (schema.sql drops them first).
set -euo pipefail
url=${1:?usage: run.sh DATABASE_URL [seconds] [clients...]}
secs=${2:-10}
shift $(( $# < 2 ? $# : 2 ))
clients=("$@")
[[ ${#clients[@]} -gt 0 ]] || clients=(4 8 16)
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The group-commit shape: the per-message statements of ingest.sql 16 times, one notify.
{
	for i in $(seq 1 16); do echo "\\set msg$i random(1, 2000000000)"; done
	# each client its own visitors, as the batcher shards them
	echo 'BEGIN;'
	for i in $(seq 1 16); do
		sed -n '/^SELECT 1 FROM/,/^INSERT INTO bench_jobs/p' "$here/ingest.sql" | sed "s/:msg/:msg$i/g; s/:user/(:client_id * 16 + $i)/g"
	done
	echo "SELECT pg_notify('omnichat', '{\"k\":\"message.created\"}');"
	echo 'COMMIT;'
} > "$tmp/ingest_batch16.sql"

psql -q -X -v ON_ERROR_STOP=1 "$url" -f "$here/schema.sql"
for script in "$here/ingest.sql" "$here/ingest_nonotify.sql" "$tmp/ingest_batch16.sql"; do
	for c in "${clients[@]}"; do
		printf '%-22s clients=%-3s ' "$(basename "$script")" "$c"
		pgbench -n -M prepared -T "$secs" -c "$c" -j "$(( c < 2 ? c : 2 ))" -f "$script" "$url" 2>&1 |
			awk '/^tps/ {tps=$3} /latency average/ {lat=$4} /aborted|error/ {err=$0} END {printf "tps %s  latency avg %s ms %s\n", tps, lat, err}'
	done
done
