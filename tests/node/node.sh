#!/usr/bin/env bash
# A one-node Kubernetes cluster that runs pods, for the chart's end-to-end tests and `make node-up`:
# etcd, kube-apiserver, kube-controller-manager and kube-scheduler on the host; containerd and kubelet
# in a private mount and PID namespace, so their mounts and processes (shims, containers) vanish with
# it. The node network is a bridge of our own; pods reach the API through one DNAT rule for the
# `kubernetes` Service. `down` removes the bridge, the rule, the cgroups and the directories `up`
# made, stopping every process by the PID it recorded.
#
#   node.sh check              exit 0 when this machine can run it, else print why and exit 3
#   node.sh up STATE_DIR       start it; STATE_DIR/kubeconfig (admin), STATE_DIR/env (addresses)
#   node.sh down STATE_DIR     stop it and leave nothing of it behind
#   node.sh import STATE_DIR IMAGE.tar   load an OCI image archive into the node's containerd
#
# Binaries: kube-apiserver etc. from $SHO_CONTROLPLANE_DIR (tests/controlplane/build.sh --node).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
BRIDGE=${SHO_NODE_BRIDGE:-sho0}
BRIDGE_IP=${SHO_NODE_BRIDGE_IP:-10.244.0.1}
POD_SUBNET=${SHO_NODE_POD_SUBNET:-10.244.0.0/24}
SERVICE_CIDR=10.96.0.0/12
SERVICE_IP=10.96.0.1
NODE_NAME=sho-node
PAUSE_IMAGE=registry.k8s.io/pause:3.10
# The values kubelet insists on; bind-mounted over /proc/sys inside the node's namespace only.
SYSCTLS="kernel/panic=10 kernel/panic_on_oops=1 vm/overcommit_memory=1 vm/panic_on_oom=0"
# Host paths containerd and kubelet use that cannot be moved: a tmpfs over each, inside the namespace.
PRIVATE_DIRS="/run/containerd /var/lib/kubelet /var/lib/cni /var/log/pods /var/log/containers"

say() { echo "node.sh: $*" >&2; }
die() { say "$*"; exit 1; }

# Why this machine cannot run a node (empty when it can).
why_not() {
  [ "$(id -u)" -eq 0 ] || { echo "needs root (network bridge, mount namespace, containerd)"; return; }
  local missing=()
  for tool in containerd runc ctr unshare ip iptables openssl busybox python3; do
    command -v "$tool" >/dev/null || missing+=("$tool")
  done
  [ -x /usr/lib/cni/bridge ] && [ -x /usr/lib/cni/host-local ] && [ -x /usr/lib/cni/loopback ] \
    || missing+=("containernetworking-plugins")
  if [ ${#missing[@]} -gt 0 ]; then
    echo "missing ${missing[*]} (apt-get install containerd runc containernetworking-plugins iptables conntrack busybox-static)"
    return
  fi
  local bins=${SHO_CONTROLPLANE_DIR:-}
  [ -n "$bins" ] || { echo "SHO_CONTROLPLANE_DIR is not set (tests/controlplane/build.sh --node prints it)"; return; }
  for bin in etcd kube-apiserver kubectl kubelet kube-controller-manager kube-scheduler; do
    [ -x "$bins/$bin" ] || { echo "$bins/$bin is missing: run tests/controlplane/build.sh --node"; return; }
  done
  if ip link show "$BRIDGE" >/dev/null 2>&1; then
    echo "bridge $BRIDGE exists: another node cluster runs (node.sh down its state dir)"
  fi
}

free_port() { # host
  python3 -c 'import socket,sys; s=socket.socket(); s.bind((sys.argv[1], 0)); print(s.getsockname()[1])' "$1"
}

# cert NAME CN [O] [SANS]: an EC key and a certificate signed by the cluster CA.
cert() {
  local name=$1 cn=$2 org=${3:-} sans=${4:-}
  local subj="/CN=$cn"; [ -n "$org" ] && subj="/O=$org$subj"
  openssl ecparam -name prime256v1 -genkey -noout -out "$pki/$name.key" 2>/dev/null
  openssl req -new -key "$pki/$name.key" -subj "$subj" -out "$pki/$name.csr" 2>/dev/null
  {
    echo "basicConstraints=CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    if [ -n "$sans" ]; then echo "extendedKeyUsage=serverAuth,clientAuth"; echo "subjectAltName=$sans"
    else echo "extendedKeyUsage=clientAuth"; fi
  } >"$pki/$name.ext"
  openssl x509 -req -in "$pki/$name.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial \
    -days 2 -sha256 -extfile "$pki/$name.ext" -out "$pki/$name.crt" 2>/dev/null
  rm -f "$pki/$name.csr" "$pki/$name.ext"
}

make_pki() {
  mkdir -p "$pki"; chmod 700 "$pki"
  openssl ecparam -name prime256v1 -genkey -noout -out "$pki/ca.key" 2>/dev/null
  openssl req -x509 -new -key "$pki/ca.key" -subj "/CN=securityhub-operator node CA" -days 2 -sha256 \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" \
    -out "$pki/ca.crt" 2>/dev/null
  cert apiserver kube-apiserver "" \
    "IP:$BRIDGE_IP,IP:$SERVICE_IP,IP:127.0.0.1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,DNS:localhost"
  cert admin admin system:masters
  cert apiserver-kubelet-client kube-apiserver-kubelet-client system:masters
  cert kubelet "system:node:$NODE_NAME" system:nodes
  cert kubelet-serving "system:node:$NODE_NAME" system:nodes "IP:$BRIDGE_IP,DNS:$NODE_NAME"
  cert controller-manager system:kube-controller-manager
  cert scheduler system:kube-scheduler
  openssl ecparam -name prime256v1 -genkey -noout -out "$pki/sa.key" 2>/dev/null
  openssl ec -in "$pki/sa.key" -pubout -out "$pki/sa.pub" 2>/dev/null
}

kubeconfig() { # NAME USER-CERT SERVER
  cat >"$state/$1.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: node
  cluster:
    server: $3
    certificate-authority: $pki/ca.crt
users:
- name: $1
  user:
    client-certificate: $pki/$2.crt
    client-key: $pki/$2.key
contexts:
- name: node
  context: {cluster: node, user: $1}
current-context: node
EOF
  chmod 600 "$state/$1.kubeconfig"
}

# spawn NAME CMD...: runs CMD in the background, its PID in pids/NAME, output in logs/NAME.log.
spawn() {
  local name=$1; shift
  setsid "$@" >>"$state/logs/$name.log" 2>&1 </dev/null &
  echo $! >"$state/pids/$name"
}

wait_for() { # WHAT SECONDS CMD...
  local what=$1 seconds=$2; shift 2
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || { say "$what not ready within $seconds s"; tail -n 30 "$state"/logs/*.log >&2; return 1; }
    sleep 0.5
  done
}

alive() { [ -f "$state/pids/$1" ] && kill -0 "$(cat "$state/pids/$1")" 2>/dev/null; }

start_network() {
  ip link add "$BRIDGE" type bridge
  echo "$BRIDGE" >"$state/bridge"
  ip addr add "$BRIDGE_IP/${POD_SUBNET#*/}" dev "$BRIDGE"
  ip link set "$BRIDGE" up
  mkdir -p "$state/cni/net.d"
  cat >"$state/cni/net.d/10-sho.conflist" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "sho",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$BRIDGE",
      "isGateway": false,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{"subnet": "$POD_SUBNET", "gateway": "$BRIDGE_IP"}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    },
    {"type": "loopback"}
  ]
}
EOF
}

start_control_plane() {
  local bins=$SHO_CONTROLPLANE_DIR
  local etcd_port peer_port
  etcd_port=$(free_port 127.0.0.1); peer_port=$(free_port 127.0.0.1)
  spawn etcd "$bins/etcd" --name=node --data-dir="$state/etcd" \
    --listen-client-urls="http://127.0.0.1:$etcd_port" --advertise-client-urls="http://127.0.0.1:$etcd_port" \
    --listen-peer-urls="http://127.0.0.1:$peer_port" --initial-advertise-peer-urls="http://127.0.0.1:$peer_port" \
    --initial-cluster="node=http://127.0.0.1:$peer_port" --unsafe-no-fsync=true
  wait_for etcd 60 python3 -c 'import sys,urllib.request; sys.exit(b"true" not in urllib.request.urlopen(sys.argv[1], timeout=2).read())' \
    "http://127.0.0.1:$etcd_port/health"
  API_PORT=$(free_port "$BRIDGE_IP")
  SERVER="https://$BRIDGE_IP:$API_PORT"
  spawn kube-apiserver "$bins/kube-apiserver" \
    --etcd-servers="http://127.0.0.1:$etcd_port" \
    --bind-address="$BRIDGE_IP" --secure-port="$API_PORT" --advertise-address="$BRIDGE_IP" \
    --cert-dir="$state/apiserver-certs" \
    --tls-cert-file="$pki/apiserver.crt" --tls-private-key-file="$pki/apiserver.key" \
    --client-ca-file="$pki/ca.crt" \
    --kubelet-client-certificate="$pki/apiserver-kubelet-client.crt" --kubelet-client-key="$pki/apiserver-kubelet-client.key" \
    --kubelet-preferred-address-types=InternalIP \
    --service-cluster-ip-range="$SERVICE_CIDR" \
    --service-account-issuer=https://kubernetes.default.svc \
    --service-account-key-file="$pki/sa.pub" --service-account-signing-key-file="$pki/sa.key" \
    --authorization-mode=Node,RBAC --enable-admission-plugins=NodeRestriction \
    --allow-privileged=true --profiling=false
  kubeconfig admin admin "$SERVER"
  cp "$state/admin.kubeconfig" "$state/kubeconfig"
  wait_for kube-apiserver 90 "$bins/kubectl" --kubeconfig "$state/kubeconfig" get --raw /readyz
  kubeconfig controller-manager controller-manager "$SERVER"
  kubeconfig scheduler scheduler "$SERVER"
  kubeconfig kubelet kubelet "$SERVER"
  spawn kube-controller-manager "$bins/kube-controller-manager" \
    --kubeconfig="$state/controller-manager.kubeconfig" --leader-elect=false \
    --authentication-kubeconfig="$state/controller-manager.kubeconfig" \
    --authorization-kubeconfig="$state/controller-manager.kubeconfig" \
    --bind-address=127.0.0.1 --secure-port=0 \
    --root-ca-file="$pki/ca.crt" --service-account-private-key-file="$pki/sa.key" \
    --use-service-account-credentials=true --service-cluster-ip-range="$SERVICE_CIDR"
  spawn kube-scheduler "$bins/kube-scheduler" \
    --kubeconfig="$state/scheduler.kubeconfig" --leader-elect=false \
    --authentication-kubeconfig="$state/scheduler.kubeconfig" \
    --authorization-kubeconfig="$state/scheduler.kubeconfig" \
    --bind-address=127.0.0.1 --secure-port=0
}

# The `kubernetes` Service (10.96.0.1:443) to the API server: the one rule pods need, tagged so
# `down` deletes exactly it.
start_service_route() {
  local rule=(-d "$SERVICE_IP/32" -p tcp --dport 443 -m comment --comment "sho-node $state"
    -j DNAT --to-destination "$BRIDGE_IP:$API_PORT")
  iptables -t nat -A PREROUTING "${rule[@]}"
  printf '%s\n' "${rule[@]}" >"$state/dnat-rule"
}

write_node_config() {
  local kubelet_port; kubelet_port=$(free_port "$BRIDGE_IP")
  mkdir -p "$state/containerd" "$state/sysctl"
  for kv in $SYSCTLS; do mkdir -p "$state/sysctl/$(dirname "${kv%%=*}")"; echo "${kv#*=}" >"$state/sysctl/${kv%%=*}"; done
  cat >"$state/containerd/config.toml" <<EOF
version = 2
root = "$state/containerd/root"
state = "/run/containerd"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs", "io.containerd.internal.v1.tracing"]
[grpc]
  address = "$state/containerd/containerd.sock"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$state/cni/net.d"
EOF
  cat >"$state/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false
cgroupDriver: cgroupfs
address: $BRIDGE_IP
port: $kubelet_port
readOnlyPort: 0
healthzPort: 0
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $pki/ca.crt}
authorization: {mode: Webhook}
tlsCertFile: $pki/kubelet-serving.crt
tlsPrivateKeyFile: $pki/kubelet-serving.key
protectKernelDefaults: false
failSwapOn: false
containerRuntimeEndpoint: unix://$state/containerd/containerd.sock
imageServiceEndpoint: unix://$state/containerd/containerd.sock
evictionHard: {memory.available: "50Mi", nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
serializeImagePulls: false
resolvConf: /etc/resolv.conf
registerNode: true
maxPods: 30
EOF
}

# Runs inside the namespace: mounts, containerd, the pause image, kubelet; then waits.
inner() {
  mount --make-rprivate /
  for dir in $PRIVATE_DIRS; do mount -t tmpfs -o mode=0755 tmpfs "$dir"; done
  for kv in $SYSCTLS; do mount --bind "$state/sysctl/${kv%%=*}" "/proc/sys/${kv%%=*}"; done
  containerd --config "$state/containerd/config.toml" >>"$state/logs/containerd.log" 2>&1 &
  local containerd_pid=$!
  local sock=$state/containerd/containerd.sock
  local deadline=$((SECONDS + 30))
  until ctr --address "$sock" version >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || { echo "containerd did not start" >&2; exit 1; }
    sleep 0.2
  done
  ctr --address "$sock" -n k8s.io images import "$state/pause.tar" >>"$state/logs/containerd.log" 2>&1
  "$SHO_CONTROLPLANE_DIR/kubelet" --config="$state/kubelet.yaml" --kubeconfig="$state/kubelet.kubeconfig" \
    --hostname-override="$NODE_NAME" --node-ip="$BRIDGE_IP" >>"$state/logs/kubelet.log" 2>&1 &
  local kubelet_pid=$!
  # PID 1 of the namespace: when it returns, the kernel kills everything left in it.
  trap 'kill -TERM $kubelet_pid; wait $kubelet_pid; kill -TERM $containerd_pid; wait $containerd_pid' TERM INT
  wait
}

start_node() {
  write_node_config
  python3 "$here/../../scripts/oci-image.py" pause --busybox "$(command -v busybox)" \
    --name "$PAUSE_IMAGE" --out "$state/pause.tar"
  for dir in $PRIVATE_DIRS; do
    if [ ! -e "$dir" ]; then mkdir -p "$dir"; echo "$dir" >>"$state/created-dirs"; fi
  done
  spawn node unshare --mount --pid --fork --kill-child=SIGTERM --mount-proc --propagation private \
    env SHO_CONTROLPLANE_DIR="$SHO_CONTROLPLANE_DIR" bash "$here/node.sh" inner "$state"
  wait_for "node $NODE_NAME" 180 "$SHO_CONTROLPLANE_DIR/kubectl" --kubeconfig "$state/kubeconfig" \
    wait --for=condition=Ready "node/$NODE_NAME" --timeout=2s
  wait_for "ServiceAccount default/default" 60 "$SHO_CONTROLPLANE_DIR/kubectl" --kubeconfig "$state/kubeconfig" \
    get serviceaccount default -n default
}

up() {
  local reason; reason=$(why_not)
  [ -z "$reason" ] || die "cannot start a node cluster: $reason"
  mkdir -p "$state"/{logs,pids}
  state=$(cd "$state" && pwd); pki=$state/pki
  local start=$SECONDS
  trap 'say "start failed; stopping what started"; down' ERR
  make_pki
  start_network
  start_control_plane
  start_service_route
  start_node
  trap - ERR
  cat >"$state/env" <<EOF
SERVER=$SERVER
BRIDGE_IP=$BRIDGE_IP
NODE_NAME=$NODE_NAME
SERVICE_IP=$SERVICE_IP
EOF
  say "node cluster up in $((SECONDS - start)) s: kubeconfig $state/kubeconfig, API $SERVER"
}

stop_pid() { # NAME GRACE-SECONDS
  alive "$1" || return 0
  local pid; pid=$(cat "$state/pids/$1")
  kill -TERM "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + $2))
  while kill -0 "$pid" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.2; done
  kill -KILL "$pid" 2>/dev/null || true
  while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
}

remove_cgroups() {
  local root
  for root in /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/kubepods; do
    [ -d "$root" ] || continue
    find "$root" -depth -type d -exec rmdir {} \; 2>/dev/null || true
  done
}

down() {
  [ -d "$state" ] || return 0
  state=$(cd "$state" && pwd)
  # The node first (its namespace's init takes containers and shims with it), then the rest.
  stop_pid node 20
  for name in kube-scheduler kube-controller-manager kube-apiserver etcd; do stop_pid "$name" 10; done
  if [ -f "$state/dnat-rule" ]; then
    mapfile -t rule <"$state/dnat-rule"
    while iptables -t nat -C PREROUTING "${rule[@]}" 2>/dev/null; do iptables -t nat -D PREROUTING "${rule[@]}"; done
  fi
  if [ -f "$state/bridge" ] && ip link show "$(cat "$state/bridge")" >/dev/null 2>&1; then
    ip link delete "$(cat "$state/bridge")"
  fi
  remove_cgroups
  if [ -f "$state/created-dirs" ]; then
    while read -r dir; do rmdir "$dir" 2>/dev/null || say "left $dir: not empty"; done <"$state/created-dirs"
  fi
  rm -rf "$state"
}

import() { # IMAGE.tar
  # unshare itself is in the node's mount namespace (only its child is in the new PID one).
  nsenter --target "$(cat "$state/pids/node")" --mount \
    ctr --address "$state/containerd/containerd.sock" -n k8s.io images import "$1" >&2
}

command=${1:-}
case "$command" in
  check)
    reason=$(why_not)
    if [ -n "$reason" ]; then echo "$reason"; exit 3; fi ;;
  up) state=${2:?state dir}; up ;;
  down) state=${2:?state dir}; down ;;
  inner) state=${2:?state dir}; inner ;;
  import) state=$(cd "${2:?state dir}" && pwd); import "${3:?image archive}" ;;
  *) die "usage: node.sh check | up STATE_DIR | down STATE_DIR | import STATE_DIR IMAGE.tar" ;;
esac
