#!/usr/bin/env bash
# Makes sure the system packages the tests need are installed: PostgreSQL's server
# binaries (every integration test runs a private cluster through internal/localpg) and,
# when browser tests exist (chromedp), Chromium and its driver. As root with apt-get it
# installs what is missing; otherwise it names the packages and fails.
# `deps.sh run` checks only what `make run` needs (PostgreSQL, unless OMNICHAT_DATABASE_URL
# points at a server).
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-test}

if ! command -v go >/dev/null 2>&1 && [[ ! -x /usr/local/go/bin/go ]]; then
	echo "deps: Go is not installed: install Go 1.26 or newer (https://go.dev/dl/) into /usr/local/go or PATH" >&2
	exit 1
fi

have_postgres() {
	if command -v postgres >/dev/null 2>&1 && command -v initdb >/dev/null 2>&1; then
		return 0
	fi
	local d
	for d in /usr/lib/postgresql/*/bin; do
		if [[ -x $d/postgres && -x $d/initdb ]]; then
			return 0
		fi
	done
	return 1
}

missing=()
if [[ $mode != run || -z ${OMNICHAT_DATABASE_URL:-} ]]; then
	have_postgres || missing+=(postgresql)
fi
if [[ $mode != run ]] && grep -rqs --include='*_test.go' 'github.com/chromedp/chromedp' .; then
	command -v chromium >/dev/null 2>&1 || missing+=(chromium)
	command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
fi

if ((${#missing[@]} == 0)); then
	exit 0
fi
if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
	echo "deps: missing system packages: ${missing[*]}" >&2
	echo "deps: install them (Debian/Ubuntu: sudo apt-get install --no-install-recommends ${missing[*]}) and run again" >&2
	exit 1
fi

echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt_opts=(-o DPkg::Lock::Timeout=300 -o Acquire::Retries=3)
for attempt in 1 2 3; do
	if apt-get "${apt_opts[@]}" update -qq &&
		apt-get "${apt_opts[@]}" install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; then
		exit 0
	fi
	echo "deps: apt-get failed (attempt $attempt of 3)" >&2
	sleep $((attempt * 5))
done
echo "deps: could not install ${missing[*]}" >&2
exit 1
