#!/usr/bin/env bash
# make run: burrow's main job on this machine. A hub runs in a network namespace of its own
# (both ends need a TUN device), an agent on the host connects to it over a veth pair, and
# Ctrl-C stops both and removes everything this script made.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
  echo "make run needs root: it creates a network namespace, a veth pair and TUN devices" >&2
  exit 1
fi

# Each run takes the first free instance N (0-7), held by a lock for as long as it runs, so a
# second `make run` on this machine gets its own namespace, addresses, socket and API port.
# The locks are machine-wide (/run), like the namespaces and addresses they guard. Instance 0
# keeps the plain paths the docs show (/tmp/burrow-run/agent.sock); N > 0 uses /tmp/burrow-run-N.
base=${BURROW_RUN_DIR:-/tmp/burrow-run}
instance="" work=""
for n in 0 1 2 3 4 5 6 7; do
  exec 9>"/run/burrow-run-$n.lock"
  if flock -n 9; then instance=$n; break; fi
  exec 9>&-
done
[ -n "$instance" ] || { echo "make run: eight instances already run on this machine" >&2; exit 1; }
work=$base
[ "$instance" -gt 0 ] && work=$base-$instance

ns=burrow-run-hub$instance
host_if=brun$instance-host hub_if=brun$instance-hub
host_ip=10.231.$instance.1 hub_ip=10.231.$instance.2
control_port=8080
socket=$work/agent.sock
api_port=$((4100 + instance))
# Tunnel networks apart too: two agents' interfaces on this host must not route the same /20.
tunnel_cidr=100.89.$((128 + 16 * instance)).0/20
hub_pid="" agent_pid=""

cleanup() {
  trap - INT TERM HUP EXIT
  # The terminal or pipe may be gone (HUP, PIPE): writes then fail instead of killing the
  # cleanup half way.
  trap '' PIPE
  { echo; echo "stopping agent and hub..."; } 2>/dev/null || true
  [ -n "$agent_pid" ] && kill -TERM "$agent_pid" 2>/dev/null && wait "$agent_pid" 2>/dev/null || true
  [ -n "$hub_pid" ] && kill -TERM "$hub_pid" 2>/dev/null && wait "$hub_pid" 2>/dev/null || true
  ip link del "$host_if" 2>/dev/null || true
  ip netns del "$ns" 2>/dev/null || true
  echo "stopped; state kept in $work" 2>/dev/null || true
}
trap cleanup EXIT
trap "exit 0" INT TERM HUP PIPE

# A stale run of this instance (killed hard) leaves its namespace behind; the lock says no
# live run owns it.
ip netns del "$ns" 2>/dev/null || true
ip link del "$host_if" 2>/dev/null || true
mkdir -p "$work"

ip netns add "$ns"
ip netns exec "$ns" ip link set lo up
ip link add "$host_if" type veth peer name "$hub_if" netns "$ns"
ip addr add "$host_ip/24" dev "$host_if"
ip link set "$host_if" up
ip netns exec "$ns" ip addr add "$hub_ip/24" dev "$hub_if"
ip netns exec "$ns" ip link set "$hub_if" up

credentials=$work/client.json
if [ ! -s "$credentials" ]; then
  ip netns exec "$ns" ./burrow hub client add --state-dir "$work/hub" --name make-run >"$credentials"
  chmod 600 "$credentials"
fi
id=$(sed -E 's/.*"id" *: *"([^"]+)".*/\1/' "$credentials")
secret=$(sed -E 's/.*"secret" *: *"([^"]+)".*/\1/' "$credentials")

ip netns exec "$ns" ./burrow hub --state-dir "$work/hub" --listen "$hub_ip:$control_port" \
  --public-host "$hub_ip" --interface "brunhub$instance" --tunnel-cidr "$tunnel_cidr" &
hub_pid=$!

for _ in $(seq 1 100); do
  (exec 3<>"/dev/tcp/$hub_ip/$control_port") 2>/dev/null && break
  kill -0 "$hub_pid" 2>/dev/null || { echo "the hub did not start" >&2; exit 1; }
  sleep 0.1
done

PANGOLIN_ENDPOINT="http://$hub_ip:$control_port" OLM_ID="$id" OLM_SECRET="$secret" \
  ./burrow agent --socket-path "$socket" --api-port "$api_port" --state-dir "$work/agent" \
  --interface "brun$instance" &
agent_pid=$!

tunnel_ip=""
for _ in $(seq 1 150); do
  status=$(curl -s --unix-socket "$socket" http://localhost/status 2>/dev/null || true)
  tunnel_ip=$(sed -nE 's/.*"tunnelIP" *: *"([^"]+)".*/\1/p' <<<"$status")
  [ -n "$tunnel_ip" ] && grep -q '"connected" *: *true' <<<"$status" && break
  kill -0 "$agent_pid" 2>/dev/null || { echo "the agent did not start" >&2; exit 1; }
  sleep 0.2
done

cat <<MSG

burrow is running (instance $instance): a hub in namespace $ns ($hub_ip) and an agent on this host.
  agent API socket : $socket (Olm routes)
  agent API URL    : http://127.0.0.1:$api_port (Packetriot routes; both serve every route)
  tunnel address   : ${tunnel_ip:-not connected yet}
Try:
  curl --unix-socket $socket http://localhost/status
  curl http://127.0.0.1:$api_port/api/client/v1.0/info
Press Ctrl-C to stop both.
MSG
wait
