#!/usr/bin/env bash
# Lints .github/workflows/*.yml with actionlint, built once from its Go module into the per-machine cache
# (beside the control-plane binaries) and reused afterwards. actionlint also checks `run:` scripts with shellcheck
# when shellcheck is on PATH. Arguments are passed to actionlint; its exit status is this script's.
#   scripts/actionlint.sh            # 0: no findings, 1: findings, >1: actionlint could not run
set -euo pipefail
cd "$(dirname "$0")/.."

ACTIONLINT_VERSION=v1.7.12
CACHE_ROOT=${SHO_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/securityhub-operator}
bin_dir="$CACHE_ROOT/actionlint/$ACTIONLINT_VERSION"
actionlint="$bin_dir/actionlint"

if [ ! -x "$actionlint" ]; then
  command -v go >/dev/null || { echo "scripts/actionlint.sh: go not found (needed once to build actionlint)" >&2; exit 2; }
  echo "scripts/actionlint.sh: building actionlint $ACTIONLINT_VERSION into $bin_dir" >&2
  mkdir -p "$bin_dir"
  # Build into a scratch directory and move the binary in, so an interrupted build leaves nothing half-written.
  tmp=$(mktemp -d "$bin_dir/.build.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  GOBIN="$tmp" go install \
    -ldflags "-s -w -X github.com/rhysd/actionlint.version=$ACTIONLINT_VERSION" \
    "github.com/rhysd/actionlint/cmd/actionlint@$ACTIONLINT_VERSION"
  mv -f "$tmp/actionlint" "$actionlint"
  rm -rf "$tmp"
  trap - EXIT
fi

shopt -s nullglob
workflows=(.github/workflows/*.yml)
[ ${#workflows[@]} -gt 0 ] || { echo "scripts/actionlint.sh: no .github/workflows/*.yml" >&2; exit 2; }

exec "$actionlint" "$@" "${workflows[@]}"
