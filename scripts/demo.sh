#!/usr/bin/env bash
# `make run`: the whole story on one machine, no AWS account needed.
#
# Starts a local control plane (etcd + kube-apiserver), the Security Hub emulator (two
# organization accounts, invited accounts that accept after a few seconds, one that
# declines), installs the CRD, starts the operator, applies deploy/samples/ and shows a
# live table until every sample settles. Ctrl-C stops everything this script started, by
# the PIDs it recorded in $DEMO_DIR/pids.
#
# Environment:
#   DEMO_EXIT_WHEN_SETTLED=1  stop everything and exit 0 once settled (1 on timeout)
#   DEMO_TIMEOUT=SECONDS      how long to wait for the samples to settle (default 180)
#   DEMO_DIR=DIR              logs, PIDs and the cluster's state (default target/demo)
#   SHO_CONTROLPLANE_DIR      etcd, kube-apiserver, kubectl (default: tests/controlplane/build.sh)
#   SHO_BIN                   the operator binary (default target/debug/securityhub-operator)
#   DEMO_NODE=1               install the operator with the chart on a one-node cluster that runs
#                             pods (tests/node/node.sh; needs root): the image is built from SHO_BIN,
#                             two replicas elect a leader, the emulator listens on the node's bridge
set -euo pipefail
cd "$(dirname "$0")/.."

DEMO_DIR=${DEMO_DIR:-target/demo}
mkdir -p "$DEMO_DIR"
DEMO_DIR=$(cd "$DEMO_DIR" && pwd)
TIMEOUT=${DEMO_TIMEOUT:-180}
EXIT_WHEN_SETTLED=${DEMO_EXIT_WHEN_SETTLED:-0}
TARGET_DIR=${CARGO_TARGET_DIR:-target}
BIN=${SHO_BIN:-$TARGET_DIR/debug/securityhub-operator}
CLUSTER_BIN=${SHO_CLUSTER_BIN:-$TARGET_DIR/debug/examples/cluster}
NODE=${DEMO_NODE:-0}
if [ "$NODE" = 1 ]; then
  CONTROLPLANE=${SHO_CONTROLPLANE_DIR:-$(tests/controlplane/build.sh --node)}
  STATE=$DEMO_DIR/node
else
  CONTROLPLANE=${SHO_CONTROLPLANE_DIR:-$(tests/controlplane/build.sh)}
  STATE=$DEMO_DIR/cluster
fi
export SHO_CONTROLPLANE_DIR=$CONTROLPLANE
LISTEN=127.0.0.1
RELEASE_NS=securityhub-operator-system
KUBECONFIG_FILE=$STATE/kubeconfig
PIDS=$DEMO_DIR/pids
NAMESPACE=security
# Ready=False reasons that will not change without a human: the sample has settled.
TERMINAL_REASONS=" Resigned Removed AccountSuspended Deleted AlreadyExists Conflict InvalidConfiguration AccessDenied CredentialsError SecurityHubNotEnabled Unsupported UnknownMemberStatus "

EMULATOR_PID=""
OPERATOR_PID=""
CLUSTER_STARTED=0

say() {
  if [ -t 2 ]; then printf '\033[1m==> %s\033[0m\n' "$*" >&2; else printf '==> %s\n' "$*" >&2; fi
}

kubectl() { "$CONTROLPLANE/kubectl" --kubeconfig "$KUBECONFIG_FILE" --cache-dir "$DEMO_DIR/kubectl-cache" "$@"; }

# alive PID NAME: PID exists, is not a zombie, and runs NAME (guards against PID reuse).
alive() {
  [ -n "$1" ] && [ -r "/proc/$1/cmdline" ] || return 1
  local state; state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null || true)
  [ "$state" != "Z" ] && [ "$state" != "X" ] || return 1
  { tr '\0' ' ' <"/proc/$1/cmdline"; } 2>/dev/null | grep -q -- "$2"
}

# stop PID NAME: SIGTERM, up to 10 s to exit, then SIGKILL. Only PIDs this script recorded.
stop() {
  local pid=$1 name=$2
  alive "$pid" "$name" || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 100); do alive "$pid" "$name" || return 0; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
}

record() { echo "$1 $2" >>"$PIDS"; }

cleanup() {
  local status=$?
  trap - EXIT INT TERM
  say "stopping everything this demo started"
  stop "$OPERATOR_PID" securityhub-operator
  stop "$EMULATOR_PID" securityhub-operator
  if [ "$CLUSTER_STARTED" = 1 ] && [ "$NODE" = 1 ]; then tests/node/node.sh down "$STATE" || true
  elif [ "$CLUSTER_STARTED" = 1 ]; then stop_cluster; fi
  wait 2>/dev/null || true
  say "stopped (logs in $DEMO_DIR)"
  exit "$status"
}

# Interrupted during `up`, the detached cluster is still starting: wait for its PID file
# (while its state directory exists) so `down` can stop it instead of leaking it.
stop_cluster() {
  for _ in $(seq 600); do
    [ -f "$STATE/supervisor.pid" ] || [ ! -d "$STATE" ] && break
    sleep 0.1
  done
  "$CLUSTER_BIN" --state-dir "$STATE" down >/dev/null || true
}

# A run that was killed (SIGKILL, a closed terminal) leaves its processes: stop those
# recorded in the PID file, then start from a clean state.
stop_leftovers() {
  if [ -f "$PIDS" ]; then
    while read -r name pid; do
      case $name in
        emulator | operator) stop "$pid" securityhub-operator ;;
      esac
    done <"$PIDS"
  fi
  if [ "$NODE" = 1 ]; then tests/node/node.sh down "$STATE" >/dev/null 2>&1 || true
  else "$CLUSTER_BIN" --state-dir "$STATE" down >/dev/null 2>&1 || true; fi
  rm -f "$PIDS" "$DEMO_DIR"/final.*
}

# The node cluster: the control plane plus containerd and kubelet, pods on its own bridge.
start_node() {
  local why; why=$(tests/node/node.sh check) || { echo "DEMO_NODE=1: $why" >&2; return 1; }
  say "starting a one-node cluster (control plane, controller-manager, scheduler, containerd, kubelet)"
  CLUSTER_STARTED=1
  tests/node/node.sh up "$STATE" 2>"$DEMO_DIR/node-up.log" || { cat "$DEMO_DIR/node-up.log" >&2; return 1; }
  LISTEN=$(sed -n 's/^BRIDGE_IP=//p' "$STATE/env")
}

start_cluster() {
  if [ "$NODE" = 1 ]; then start_node; return; fi
  say "starting the control plane (etcd + kube-apiserver on loopback)"
  CLUSTER_STARTED=1
  "$CLUSTER_BIN" --state-dir "$STATE" up >"$DEMO_DIR/cluster-up.log"
  for name in supervisor etcd kube-apiserver; do
    record "cluster-$name" "$(cat "$STATE/$name.pid")"
  done
  kubectl apply -f crds/ >/dev/null
  kubectl wait --for condition=Established --timeout=60s -f crds/ >/dev/null
}

# The emulator prints its URL on stdout once listening.
start_emulator() {
  say "starting the Security Hub emulator"
  "$BIN" emulator --listen "$LISTEN:0" \
    --org-account 555555555555 --org-account 777777777777 \
    --auto-accept-after 3s --auto-accept-account 222222222222 --auto-accept-account 333333333333 \
    --decline-account 666666666666 \
    >"$DEMO_DIR/emulator.out" 2>"$DEMO_DIR/emulator.log" &
  EMULATOR_PID=$!
  record emulator "$EMULATOR_PID"
  for _ in $(seq 300); do
    EMULATOR_URL=$(sed -n 's/^listening on //p' "$DEMO_DIR/emulator.out")
    [ -n "$EMULATOR_URL" ] && return 0
    alive "$EMULATOR_PID" securityhub-operator || break
    sleep 0.1
  done
  echo "the emulator did not start; see $DEMO_DIR/emulator.log" >&2
  return 1
}

# On the node: the image from $BIN, loaded into containerd, installed with the chart (two
# replicas, leader election, the emulator as its AWS endpoint).
install_chart() {
  say "building the image from $BIN and installing charts/securityhub-operator (2 replicas)"
  local image=ghcr.io/securityhub-operator/securityhub-operator tag=demo
  python3 scripts/oci-image.py operator --binary "$BIN" --name "$image:$tag" --out "$DEMO_DIR/image.tar" 2>/dev/null
  tests/node/node.sh import "$STATE" "$DEMO_DIR/image.tar" 2>/dev/null
  rm -f "$DEMO_DIR/image.tar"
  KUBECONFIG=$KUBECONFIG_FILE "$CONTROLPLANE/helm" upgrade --install securityhub-operator charts/securityhub-operator \
    --namespace "$RELEASE_NS" --create-namespace --wait --timeout 240s \
    --set image.repository="$image" --set image.tag="$tag" --set image.pullPolicy=Never \
    --set aws.endpointUrl="$EMULATOR_URL" --set aws.stsEndpointUrl="$EMULATOR_URL" --set resync.pending=5s \
    --set-json 'extraEnv=[{"name":"AWS_ACCESS_KEY_ID","value":"AKIA111111111111EXAM"},{"name":"AWS_SECRET_ACCESS_KEY","value":"demo"}]' \
    >"$DEMO_DIR/helm.log"
  kubectl get pods -n "$RELEASE_NS" -o wide >&2
}

# The operator runs as administrator 111111111111 (the emulator maps the 12 digits of the
# access key to the caller's account) and picks its own metrics port.
start_operator() {
  say "starting the operator"
  env -u AWS_PROFILE -u AWS_SESSION_TOKEN -u AWS_ENDPOINT_URL \
    KUBECONFIG="$KUBECONFIG_FILE" NO_COLOR=1 \
    AWS_ACCESS_KEY_ID=AKIA111111111111EXAM AWS_SECRET_ACCESS_KEY=demo AWS_REGION=us-east-1 \
    AWS_ENDPOINT_URL_SECURITYHUB="$EMULATOR_URL" AWS_ENDPOINT_URL_STS="$EMULATOR_URL" \
    "$BIN" run --metrics-bind-address 127.0.0.1:0 --resync-pending 5s \
    >"$DEMO_DIR/operator.log" 2>&1 &
  OPERATOR_PID=$!
  record operator "$OPERATOR_PID"
  for _ in $(seq 300); do
    METRICS=$(grep -o 'address=127\.0\.0\.1:[0-9]*' "$DEMO_DIR/operator.log" | head -n1 | cut -d= -f2 || true)
    [ -n "$METRICS" ] && return 0
    alive "$OPERATOR_PID" securityhub-operator || break
    sleep 0.1
  done
  echo "the operator did not start; see $DEMO_DIR/operator.log" >&2
  tail -n 20 "$DEMO_DIR/operator.log" >&2 || true
  return 1
}

# Prints one line per sample that has not settled yet; nothing once all have.
unsettled() {
  local line name ready reason
  kubectl get shm -n "$NAMESPACE" -o \
    jsonpath='{range .items[*]}{.metadata.name} {.status.conditions[?(@.type=="Ready")].status} {.status.conditions[?(@.type=="Ready")].reason}{"\n"}{end}' |
    while read -r name ready reason; do
      [ -z "$name" ] && continue
      if [ "$ready" = True ]; then continue; fi
      if [ "$ready" = False ] && [[ "$TERMINAL_REASONS" == *" $reason "* ]]; then continue; fi
      echo "$name"
    done
}

# Account, every region, member status, Ready and reason of each sample.
COLUMNS_SPEC='NAME:.metadata.name,ACCOUNT:.spec.accountId,REGIONS:.status.regions[*].region,MEMBER STATUS:.status.memberStatus,READY:.status.conditions[?(@.type=="Ready")].status,REASON:.status.conditions[?(@.type=="Ready")].reason'
table() { kubectl get shm -n "$NAMESPACE" -o custom-columns="$COLUMNS_SPEC" 2>&1 || true; }

# Redraws the table on a terminal; elsewhere prints it only when it changes.
watch_until_settled() {
  local start=$SECONDS previous="" current
  while true; do
    current=$(table)
    if [ -t 1 ]; then
      printf '\033[H\033[2J'
      printf 'securityhub-operator demo: %ss, waiting for every sample to settle (Ctrl-C stops)\n\n%s\n' "$((SECONDS - start))" "$current"
    elif [ "$current" != "$previous" ]; then
      printf '[%3ss]\n%s\n\n' "$((SECONDS - start))" "$current"
    fi
    previous=$current
    if [ -z "$(unsettled)" ]; then return 0; fi
    if [ $((SECONDS - start)) -ge "$TIMEOUT" ]; then
      echo "not settled after ${TIMEOUT}s: $(unsettled | tr '\n' ' ')" >&2
      tail -n 30 "$DEMO_DIR/operator.log" >&2 || true
      return 1
    fi
    sleep 1
  done
}

explain() {
  cat <<EOF

Every sample settled. Explore:
  kubectl --kubeconfig $KUBECONFIG_FILE get shm -A
  kubectl --kubeconfig $KUBECONFIG_FILE -n $NAMESPACE describe shm contractor-sandbox
  kubectl --kubeconfig $KUBECONFIG_FILE -n $NAMESPACE get events --field-selector involvedObject.kind=SecurityHubMember
  KUBECONFIG=$KUBECONFIG_FILE $BIN status
  $( [ "$NODE" = 1 ] && echo "kubectl --kubeconfig $KUBECONFIG_FILE get --raw /api/v1/namespaces/$RELEASE_NS/services/securityhub-operator-metrics:metrics/proxy/metrics" || echo "curl -s http://$METRICS/metrics" ) | grep securityhub
  curl -s $EMULATOR_URL/_emulator/requests
(kubectl is $CONTROLPLANE/kubectl)
Logs: $( [ "$NODE" = 1 ] && echo "kubectl -n $RELEASE_NS logs deploy/securityhub-operator" || echo "$DEMO_DIR/operator.log" ), $DEMO_DIR/emulator.log
EOF
}

main() {
  trap cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  stop_leftovers
  record demo $$
  start_cluster
  start_emulator
  if [ "$NODE" = 1 ]; then install_chart; else start_operator; fi
  say "applying deploy/samples/$( [ "$NODE" = 1 ] || echo " (metrics on http://$METRICS/metrics)")"
  kubectl apply -k deploy/samples/ >/dev/null
  watch_until_settled
  kubectl get shm -A -o json >"$DEMO_DIR/final.json"
  table >"$DEMO_DIR/final.txt"
  explain
  if [ "$EXIT_WHEN_SETTLED" = 1 ]; then exit 0; fi
  echo "Press Ctrl-C to stop the operator, the emulator and the control plane."
  if [ "$NODE" = 1 ]; then
    echo "The operator runs in pods: kubectl --kubeconfig $KUBECONFIG_FILE -n $RELEASE_NS logs deploy/securityhub-operator"
    while true; do sleep 1; done
  fi
  # `wait` returns at once when a trapped signal arrives, so Ctrl-C runs the trap promptly.
  local status=0
  wait "$OPERATOR_PID" || status=$?
  # It exits 0 only when told to stop (a signal that also reached it); anything else is a failure.
  [ "$status" = 0 ] && exit 0
  echo "the operator failed (exit status $status); see $DEMO_DIR/operator.log" >&2
  exit 1
}

main "$@"
