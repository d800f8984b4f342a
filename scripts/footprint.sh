#!/usr/bin/env bash
# Footprint of `sunfill run` (BENCHMARKS.md, "Footprint"): steady-state RSS and CPU with site
# readings every second, release binary size, cold start to first decision.
#
# Peers on loopback: Mosquitto with TLS (certificates from `sunfill certs init`), the simulated
# wallbox (`sunfill sim-wallbox`, a car plugged in), and mosquitto_pub publishing the five
# Powerwall statestream readings every second. sunfill runs under /usr/bin/time -v.
# Usage: cargo build --release && bash scripts/footprint.sh [seconds of steady state, default 120]
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-target/release/sunfill}
STEADY=${1:-120}
dir=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$dir"; }
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
MQ=$(port); MB=$(port)

"$BIN" certs init --dir "$dir/pki" --host localhost --ip 127.0.0.1 >/dev/null
user=""; [ "$(id -u)" = 0 ] && user="user root"
cat >"$dir/mosquitto.conf" <<CONF
$user
persistence false
listener $MQ 127.0.0.1
cafile $dir/pki/ca.crt
certfile $dir/pki/broker.crt
keyfile $dir/pki/broker.key
allow_anonymous true
CONF
mosquitto -c "$dir/mosquitto.conf" 2>/dev/null & pids+=($!)
"$BIN" sim-wallbox --tcp 127.0.0.1:$MB --boot-ms 0 --car-at 0 2>/dev/null & pids+=($!)
cat >"$dir/sunfill.toml" <<CONF
[mqtt]
broker = "mqtts://127.0.0.1:$MQ"
ca_file = "$dir/pki/ca.crt"
[inputs]
preset = "powerwall-statestream"
[[loadpoint]]
name = "garage"
port = "tcp://127.0.0.1:$MB"
[web]
bind = "127.0.0.1:0"
[store]
path = "$dir/sunfill.db"
CONF
sleep 1
pub() { mosquitto_pub -h 127.0.0.1 -p $MQ --cafile "$dir/pki/ca.crt" -t "homeassistant/sensor/$1/state" -m "$2"; }
( while true; do
    pub powerwall_solar_now 6.000; pub powerwall_load_now 0.500; pub powerwall_site_now -5.500
    pub powerwall_battery_now 0.000; pub powerwall_charge 80; sleep 1
  done ) & pids+=($!)

start_ns=$(date +%s%N)
/usr/bin/time -v "$BIN" run --config "$dir/sunfill.toml" 2>"$dir/run.log" & pids+=($!)
for _ in $(seq 100); do
    pid=$(pgrep -P "${pids[-1]}" -x sunfill || true); [ -n "$pid" ] && break; sleep 0.05
done
for _ in $(seq 200); do grep -q "first decision" "$dir/run.log" && break; sleep 0.05; done
first=$(grep -m1 "first decision" "$dir/run.log" | sed -E 's/.*first decision ([0-9]+) ms.*/\1/')
first_ts=$(grep -m1 "first decision" "$dir/run.log" | awk '{print $1}')
echo "cold start: first decision ${first} ms after start (log: $first_ts; spawned at $(date -u -d @$((start_ns/1000000000)) +%T).$(( (start_ns/1000000) % 1000 )))"

sleep 30   # warm-up: connections, TLS, first sessions
ticks=$(getconf CLK_TCK)
cpu() { awk '{print $14+$15}' "/proc/$pid/stat"; }
c0=$(cpu); t0=$(date +%s%N)
sleep "$STEADY"
c1=$(cpu); t1=$(date +%s%N)
grep -E "VmRSS|VmHWM|RssAnon|RssFile" "/proc/$pid/status"
python3 -c "print(f'CPU: {($c1-$c0)/$ticks:.2f} s in {($t1-$t0)/1e9:.0f} s = {100*($c1-$c0)/$ticks/(($t1-$t0)/1e9):.3f} % of one core')"
grep -c "garage:" "$dir/run.log" | sed 's/^/decision log lines: /'
kill -TERM "$pid"; wait "${pids[-1]}" || true
grep -E "Maximum resident|Elapsed|User time|System time|Exit status" "$dir/run.log"
ls -l "$BIN" | awk '{print "binary: " $5 " bytes"}'
