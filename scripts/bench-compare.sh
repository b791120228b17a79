#!/usr/bin/env bash
# Compares Tern with Mosquitto and rumqttd on this machine, with the same generator (`tern bench`), each
# broker measured in turn for every scenario of the performance targets, ROUNDS times, and writes the table
# (medians, min-max, ratios) into BENCHMARKS.md between the bench-compare markers; other sections stay.
#
#   scripts/bench-compare.sh [--rounds N] [--duration 10s] [--brokers "tern mosquitto rumqttd"]
#                            [--scenarios "pairs-q0 pairs-q1 ..."] [--out DIR] [--no-write]
#
# Installs Mosquitto (Debian package) and rumqttd (`cargo install rumqttd`; or RUMQTTD=/path/to/rumqttd)
# when missing; a broker that
# cannot be installed is left out of the table, and the table says so. Every broker listens on 127.0.0.1
# on a free port, is started afresh for each run (so memory figures start from zero) and stopped by PID.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

ROUNDS=3
DURATION=10s
BROKERS="tern mosquitto rumqttd"
SCENARIOS="pairs-q0 pairs-q1 latency fanout fanin-q1 conn subs retained durable-fsync durable-memory"
OUT=""
WRITE=1
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) ROUNDS=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --brokers) BROKERS=$2; shift 2 ;;
    --scenarios) SCENARIOS=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --no-write) WRITE=0; shift ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
OUT=${OUT:-$(mktemp -d /tmp/tern-bench-compare.XXXXXX)}
mkdir -p "$OUT"
echo "results in $OUT"

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# --- brokers and generator -------------------------------------------------------------------------------
if ! command -v mosquitto >/dev/null; then
  echo "installing mosquitto (Debian)"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq mosquitto >/dev/null
fi
RUMQTTD=${RUMQTTD:-$(command -v rumqttd || true)}
if [ -z "$RUMQTTD" ] && [ -x "$HOME/.cargo/bin/rumqttd" ]; then RUMQTTD=$HOME/.cargo/bin/rumqttd; fi
if [ -z "$RUMQTTD" ] && [[ " $BROKERS " == *" rumqttd "* ]]; then
  echo "installing rumqttd (crates.io); this takes several minutes"
  # rumqttd's own lock file pins a crate that no longer builds with current Rust: resolve afresh.
  if cargo install -q rumqttd >"$OUT/rumqttd-install.log" 2>&1; then
    RUMQTTD=$HOME/.cargo/bin/rumqttd
  else
    echo "rumqttd could not be installed (see $OUT/rumqttd-install.log): left out" >&2
  fi
fi
MISSING=""
if [ -z "$RUMQTTD" ] && [[ " $BROKERS " == *" rumqttd "* ]]; then
  BROKERS=$(echo "$BROKERS" | sed 's/rumqttd//')
  MISSING="rumqttd (cargo install rumqttd failed on this machine)"
fi

echo "building tern (release)"
cargo build -q --release -p tern --bin tern -p tern-bench --example tern-bench
TERN=$ROOT/target/release/tern
if "$TERN" bench --help >/dev/null 2>&1; then
  BENCH=("$TERN" bench)
else
  BENCH=("$ROOT/target/release/examples/tern-bench")
fi

# Connection storms need many descriptors, in the brokers and in the generator.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

wait_port() {
  local port=$1 pid=$2
  for _ in $(seq 100); do
    kill -0 "$pid" 2>/dev/null || return 1
    if python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', $port), 0.2)" 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  return 1
}

# Every broker gets the same outbound window: 100 QoS 1/2 messages in flight per client, rumqttd's
# max_inflight_count below (Tern and Mosquitto default to 20).
INFLIGHT=100

BROKER_PID=""
start_broker() {
  local name=$1 port=$2 dir=$3 scenario=$4
  mkdir -p "$dir"
  case "$name" in
    tern)
      # From its run directory: its store (./tern-data, durable by default) starts empty every run.
      printf 'listener %s 127.0.0.1\nallow_anonymous true\nmax_inflight_messages %s\n' "$port" "$INFLIGHT" >"$dir/tern.conf"
      if [ "$scenario" = durable-memory ]; then echo "persistence false" >>"$dir/tern.conf"; fi
      (cd "$dir" && exec "$TERN" broker -c tern.conf) >"$dir/broker.log" 2>&1 &
      ;;
    mosquitto)
      printf 'listener %s 127.0.0.1\nallow_anonymous true\nmax_inflight_messages %s\n' "$port" "$INFLIGHT" >"$dir/mosquitto.conf"
      mosquitto -c "$dir/mosquitto.conf" >"$dir/broker.log" 2>&1 &
      ;;
    rumqttd)
      cat >"$dir/rumqttd.toml" <<EOF
id = 0

[router]
id = 0
max_connections = 30000
max_outgoing_packet_count = 200
max_segment_size = 104857600
max_segment_count = 10

[v4.1]
name = "v4-1"
listen = "127.0.0.1:$port"
next_connection_delay_ms = 1
    [v4.1.connections]
    connection_timeout_ms = 60000
    max_payload_size = 20480
    max_inflight_count = 100
    dynamic_filters = true
EOF
      "$RUMQTTD" -c "$dir/rumqttd.toml" >"$dir/broker.log" 2>&1 &
      ;;
  esac
  BROKER_PID=$!
  wait_port "$port" "$BROKER_PID"
}

stop_broker() {
  [ -n "$BROKER_PID" ] || return 0
  kill "$BROKER_PID" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$BROKER_PID" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$BROKER_PID" 2>/dev/null || true
  wait "$BROKER_PID" 2>/dev/null || true
  BROKER_PID=""
}
trap stop_broker EXIT

# --- scenarios: the rows of the performance targets ------------------------------------------------------
scenario_args() {
  case "$1" in
    pairs-q0) echo "pairs -c 100 -q 0 -d $DURATION" ;;
    pairs-q1) echo "pairs -c 100 -q 1 -d $DURATION" ;;
    latency) echo "pairs -c 1 -q 0 -r 1000 -d $DURATION" ;;
    fanout) echo "fanout -c 1000 -q 0 -r 100 -d $DURATION" ;;
    fanin-q1) echo "fanin -c 1000 -q 1 -d $DURATION" ;;
    conn) echo "conn -c 19500 --sources 4 --concurrency 100 --hold 3s" ;;
    subs) echo "subs --filters 100000 --subscribers 4 -c 10 -q 0 -d $DURATION" ;;
    retained) echo "retained -c 100000 -q 0" ;;
    # Tern's store: persistent sessions with every QoS 1 delivery stored (fsync), and the same in memory.
    durable-fsync | durable-memory) echo "pairs -c 100 -q 1 --persistent -d $DURATION" ;;
    *) echo "unknown scenario $1" >&2; return 1 ;;
  esac
}

# Brokers take turns: each round starts with the next one, so no broker always runs first.
read -r -a BROKER_LIST <<<"$BROKERS"
for round in $(seq "$ROUNDS"); do
  n=${#BROKER_LIST[@]}
  for scenario in $SCENARIOS; do
    read -r -a args <<<"$(scenario_args "$scenario")"
    for i in $(seq 0 $((n - 1))); do
      broker=${BROKER_LIST[$(((i + round - 1) % n))]}
      # The durability scenarios measure Tern's store against itself.
      if [[ $scenario == durable-* && $broker != tern ]]; then continue; fi
      dir="$OUT/$scenario/$broker/$round"
      port=$(free_port)
      if ! start_broker "$broker" "$port" "$dir" "$scenario"; then
        echo "round $round $scenario $broker: broker did not start (see $dir/broker.log)" >&2
        stop_broker
        continue
      fi
      echo "round $round/$ROUNDS  $scenario  $broker"
      set +e
      timeout 600 "${BENCH[@]}" "${args[@]}" -p "$port" --json --quiet --drain-timeout 5s \
        --broker-pid "$BROKER_PID" >"$dir/summary.json" 2>"$dir/bench.err"
      echo $? >"$dir/exit"
      set -e
      stop_broker
    done
  done
done

# --- the table -------------------------------------------------------------------------------------------
python3 - "$OUT" "$ROUNDS" "$DURATION" "$BROKERS" "$MISSING" "$WRITE" <<'PY'
import json, os, statistics, sys, datetime, platform, subprocess

out, rounds, duration, brokers, missing, write = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4].split(), sys.argv[5], sys.argv[6] == "1"

def runs(scenario, broker):
    base = os.path.join(out, scenario, broker)
    found = []
    if not os.path.isdir(base):
        return found
    for r in sorted(os.listdir(base)):
        path = os.path.join(base, r, "summary.json")
        try:
            with open(path) as f:
                found.append(json.load(f))
        except (OSError, ValueError):
            err = os.path.join(base, r, "bench.err")
            found.append({"failed": open(err).read().strip().splitlines()[-1:] if os.path.exists(err) else ["no output"]})
    return found

def get(s, path):
    for key in path.split("."):
        if not isinstance(s, dict) or s.get(key) is None:
            return None
        s = s[key]
    return s

# Each row: scenario, label, metric path, unit formatter, whether higher is better.
def rate(v): return f"{v/1000:.1f}k/s" if v < 1e6 else f"{v/1e6:.2f}M/s"
def us(v): return f"{v:.0f} us" if v < 1000 else (f"{v/1000:.2f} ms" if v < 1e6 else f"{v/1e6:.2f} s")
def mib(v): return f"{v/1024:.1f} MB"
def kib(v): return f"{v:.2f} KB"
def secs(v): return f"{v:.2f} s"
ROWS = [
    ("pairs-q0", "100 pairs QoS 0, max rate: delivered", "messages.delivery_rate", rate, True),
    ("pairs-q0", "100 pairs QoS 0: broker peak RSS", "broker_usage.peak_rss_kib", mib, False),
    ("pairs-q1", "100 pairs QoS 1, max rate: delivered", "messages.delivery_rate", rate, True),
    ("latency", "1 pair, 1000 msg/s QoS 0: p50", "latency.p50_us", us, False),
    ("latency", "1 pair, 1000 msg/s QoS 0: p99", "latency.p99_us", us, False),
    ("fanout", "fan-out 1 -> 1000, 100 msg/s QoS 0: delivered", "messages.delivery_rate", rate, True),
    ("fanout", "fan-out 1 -> 1000: p99", "latency.p99_us", us, False),
    ("fanin-q1", "fan-in 1000 -> 1, QoS 1: delivered", "messages.delivery_rate", rate, True),
    ("conn", "19.5k idle connections: broker memory per connection", "connections.broker_kib_per_connection", kib, False),
    ("conn", "19.5k connections: connect rate", "connections.connect_rate", lambda v: f"{v:.0f} conn/s", True),
    ("subs", "routing vs 100k filters: delivered", "messages.delivery_rate", rate, True),
    ("retained", "100k retained, `#` subscribe: time to all", "retained.subscribe_s", secs, False),
    ("durable-fsync", "100 pairs QoS 1, persistent sessions, durability fsync: delivered", "messages.delivery_rate", rate, True),
    ("durable-memory", "100 pairs QoS 1, persistent sessions, durability memory: delivered", "messages.delivery_rate", rate, True),
]

def cell(values, fmt):
    if not values:
        return "-"
    med = statistics.median(values)
    if len(values) == 1:
        return fmt(med)
    return f"{fmt(med)} ({fmt(min(values))}-{fmt(max(values))})"

def faults(summaries):
    notes = []
    for s in summaries:
        if "failed" in s:
            notes.append("run failed: " + " ".join(s["failed"])[:100])
            continue
        m, r, c = s.get("messages") or {}, s.get("retained") or {}, s.get("connections") or {}
        if m.get("lost") and s.get("qos", 0) > 0:
            notes.append(f"{m['lost']} of {m['expected']} acknowledged QoS {s['qos']} messages lost")
        elif m.get("lost"):
            notes.append(f"QoS 0: {100 * m['lost'] / m['expected']:.0f}% dropped")
        if m.get("duplicated"):
            notes.append(f"{m['duplicated']} duplicated")
        if m.get("unexpected"):
            notes.append(f"{m['unexpected']} misrouted")
        if r.get("missing"):
            notes.append(f"{r['missing']} of {r['stored']} retained messages missing")
        if c.get("failed") or c.get("dropped"):
            notes.append(f"{c['failed']} connections failed, {c['dropped']} dropped")
        if s.get("errors"):
            notes.append(f"{s['errors']} errors, e.g. {(s.get('error_samples') or [''])[0][:100]}")
    return list(dict.fromkeys(notes))[:6]

lines = []
head = "| target | " + " | ".join(brokers) + " | " + " | ".join(f"Tern / {b}" for b in brokers if b != "tern") + " |"
lines.append(head)
lines.append("|" + "---|" * (1 + len(brokers) + len([b for b in brokers if b != "tern"])))
notes = []
noted = set()
gen_cpu = {}
for scenario, label, path, fmt, higher in ROWS:
    cells, medians = [], {}
    for b in brokers:
        summaries = runs(scenario, b)
        values = [v for v in (get(s, path) for s in summaries) if isinstance(v, (int, float))]
        cells.append(cell(values, fmt))
        if values:
            medians[b] = statistics.median(values)
        f = faults(summaries)
        if f and (scenario, b) not in noted:
            noted.add((scenario, b))
            notes.append(f"{scenario} / {b}: " + "; ".join(f))
        for s in summaries:
            g, k = get(s, "generator.cpu_seconds"), get(s, "broker_usage.cpu_seconds")
            if g is not None and k is not None:
                gen_cpu.setdefault((scenario, b), []).append((g, k))
    ratios = []
    for b in brokers:
        if b == "tern":
            continue
        t, o = medians.get("tern"), medians.get(b)
        if t is None or o is None or o == 0 or t == 0:
            ratios.append("-")
        else:
            ratio = t / o
            better = ratio >= 1 if higher else ratio <= 1
            ratios.append(f"{ratio:.2f}x" + ("" if better else " (worse)"))
    lines.append(f"| {label} | " + " | ".join(cells) + " | " + " | ".join(ratios) + " |")

cpu_lines = ["| scenario | " + " | ".join(f"{b}: generator / broker CPU s" for b in brokers) + " |",
             "|" + "---|" * (1 + len(brokers))]
for scenario in dict.fromkeys(r[0] for r in ROWS):
    row = []
    for b in brokers:
        pairs = gen_cpu.get((scenario, b), [])
        row.append(f"{statistics.median(p[0] for p in pairs):.2f} / {statistics.median(p[1] for p in pairs):.2f}" if pairs else "-")
    cpu_lines.append(f"| {scenario} | " + " | ".join(row) + " |")

try:
    tern_rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
except OSError:
    tern_rev = "?"
mosq = subprocess.run(["mosquitto", "-h"], capture_output=True, text=True).stdout.splitlines()[:1]
section = [
    "<!-- bench-compare:begin (written by scripts/bench-compare.sh; edits inside are replaced) -->",
    "## Tern, Mosquitto and rumqttd on this machine",
    "",
    f"`scripts/bench-compare.sh --rounds {rounds} --duration {duration}` on {datetime.date.today()}, "
    f"tern {tern_rev}, {mosq[0] if mosq else 'mosquitto'}, {os.cpu_count()} cores, {platform.machine()}. "
    f"Same generator (`tern bench`, 64-byte payloads, MQTT 3.1.1, loopback) for every broker, brokers measured "
    f"in turn, each started afresh for each run. Median of {rounds} rounds, (min-max) when more than one; "
    "ratios compare medians (for times and memory, below 1 is better).",
    "",
] + lines + [""]
if missing:
    section += [f"Not measured: {missing}.", ""]
if notes:
    section += ["What the brokers did wrong or dropped (per run; QoS 0 drops are allowed, QoS 1 losses are not):", ""]
    section += [f"- {n}" for n in notes] + [""]
section += ["CPU time of the generator next to the broker's (medians), to show the generator is not the bottleneck:", ""]
section += cpu_lines + ["", "<!-- bench-compare:end -->"]
text = "\n".join(section) + "\n"
print(text)
if write:
    path = "BENCHMARKS.md"
    old = open(path).read() if os.path.exists(path) else "# Benchmarks\n\n"
    begin = old.find("<!-- bench-compare:begin")
    end = old.find("<!-- bench-compare:end -->", max(begin, 0))
    if begin != -1 and end != -1:
        new = old[:begin] + text + old[end + len("<!-- bench-compare:end -->\n"):]
    else:
        new = old.rstrip("\n") + "\n\n" + text
    open(path, "w").write(new)
    print(f"wrote {path}")
PY
