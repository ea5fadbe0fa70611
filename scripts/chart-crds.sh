#!/usr/bin/env bash
# Copies the generated CRD (crds/, written by `securityhub-operator crd`) to the places that ship it:
# the Helm chart (rendered as a template behind crds.install) and the kustomize base.
# kustomize refuses files outside its directory and Helm packages only the chart directory, hence copies.
#   scripts/chart-crds.sh          copy
#   scripts/chart-crds.sh --check  exit 1 (and show the diff) when a copy differs from crds/
set -euo pipefail
cd "$(dirname "$0")/.."
src=crds/securityhub.operator.dev_securityhubmembers.yaml
copies=(
  charts/securityhub-operator/files/crds/securityhub.operator.dev_securityhubmembers.yaml
  deploy/base/crd/securityhub.operator.dev_securityhubmembers.yaml
)
[[ -f $src ]] || { echo "$src is missing: run \`cargo run -q -- crd > $src\` (make crds)" >&2; exit 1; }
status=0
for dst in "${copies[@]}"; do
  if [[ ${1:-} == --check ]]; then
    if ! diff -u "$src" "$dst"; then
      echo "$dst differs from $src: run scripts/chart-crds.sh" >&2
      status=1
    fi
  else
    mkdir -p "$(dirname "$dst")"
    cp "$src" "$dst"
    echo "copied $src -> $dst"
  fi
done
exit $status
