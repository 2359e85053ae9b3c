#!/usr/bin/env bash
# Runs every Fuzz* target in the module for FUZZTIME each (default 30s), one at a time
# (go test -fuzz takes one target of one package). New failing inputs land in the
# package's testdata/fuzz/ and are replayed by every later `go test` as a regression test.
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
FUZZTIME=${FUZZTIME:-30s}

mapfile -t dirs < <(grep -rlE --include='*_test.go' '^func Fuzz[A-Z0-9_]' . | xargs -r -n1 dirname | sort -u)
total=0
failed=()
for dir in "${dirs[@]}"; do
	mapfile -t targets < <($GO test -list '^Fuzz' "$dir" | grep -E '^Fuzz' || true)
	for target in "${targets[@]}"; do
		total=$((total + 1))
		echo "fuzz: $dir $target for $FUZZTIME"
		if ! $GO test -run='^$' -fuzz="^${target}\$" -fuzztime="$FUZZTIME" "$dir"; then
			failed+=("$dir $target")
		fi
	done
done
for f in "${failed[@]}"; do
	echo "FAILED: $f"
done
echo "fuzz: $((total - ${#failed[@]})) passed, ${#failed[@]} failed"
((${#failed[@]} == 0))
