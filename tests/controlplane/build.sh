#!/usr/bin/env bash
# Builds kube-apiserver, kubectl, etcd and helm into a per-version cache outside the work
# tree and prints the directory. Binaries already in the cache are reused, so only the
# first run on a machine pays for the build. With --node, also kubelet,
# kube-controller-manager and kube-scheduler (tests/node/node.sh runs them).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
K8S_VERSION=$(awk '$1=="k8s.io/kubernetes"{print $2; exit}' "$here/go.mod")
ETCD_VERSION=$(awk '$1=="go.etcd.io/etcd/server/v3"{print $2; exit}' "$here/go.mod")
HELM_VERSION=${HELM_VERSION:-v3.22.0}
CACHE_ROOT=${SHO_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/securityhub-operator}
out="$CACHE_ROOT/controlplane/k8s-${K8S_VERSION}_etcd-${ETCD_VERSION}_helm-${HELM_VERSION}"
mkdir -p "$out"
export CGO_ENABLED=0 GOFLAGS=-mod=mod

minor=${K8S_VERSION#v1.}; minor=${minor%%.*}
ldflags=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X $pkg.gitVersion=${K8S_VERSION} -X $pkg.gitMajor=1 -X $pkg.gitMinor=${minor}"
  ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
done

build() { # name package
  local bin="$out/$1"
  if [ -x "$bin" ]; then return; fi
  echo "building $1 ($2) into $out ..." >&2
  local start=$SECONDS
  (cd "$here" && go build -trimpath -ldflags "-s -w $ldflags" -o "$bin.tmp" "$2")
  mv "$bin.tmp" "$bin"
  echo "built $1 in $((SECONDS - start)) s, $(du -m "$bin" | cut -f1) MiB" >&2
}
build etcd go.etcd.io/etcd/server/v3
build kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver
build kubectl k8s.io/kubernetes/cmd/kubectl
if [ "${1:-}" = "--node" ]; then
  build kube-scheduler k8s.io/kubernetes/cmd/kube-scheduler
  build kube-controller-manager k8s.io/kubernetes/cmd/kube-controller-manager
  build kubelet k8s.io/kubernetes/cmd/kubelet
fi
if [ ! -x "$out/helm" ]; then
  echo "building helm ${HELM_VERSION} ..." >&2
  start=$SECONDS
  GOBIN="$out" go install "helm.sh/helm/v3/cmd/helm@${HELM_VERSION}"
  echo "built helm in $((SECONDS - start)) s" >&2
fi
echo "$out"
