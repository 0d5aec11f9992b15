#!/usr/bin/env bash
# Local single-node Apache Kafka (KRaft) for streamdrift development and tests.
#
#   kafka.sh fetch                       download the broker jars into deploy/kafka/lib (skipped when present)
#   kafka.sh start [--port P] [--controller-port C] [--data-dir D] [--timeout S] [--sasl-ssl-port S]
#   kafka.sh stop [--data-dir D]
#   kafka.sh status [--data-dir D]
#   kafka.sh cluster-start [--nodes N] [--port P] [--data-dir D] [--timeout S]
#   kafka.sh cluster-stop|cluster-status [--nodes N] [--data-dir D]
#
# cluster-start: N (default 3) combined broker + controller KRaft nodes on 127.0.0.1, node i (1..N) on port
# P+2(i-1) with its controller on the port after it, data in D/node-i (defaults: port 19092, <checkout>/.kafka-cluster),
# one cluster id, all voters; replication 3 and min ISR 2 for the internal topics and as broker defaults (create
# streamdrift's topics with `streamdrift topics create --replication-factor 3`: min ISR 2 follows). The nodes start
# together (a node serves once a majority of the quorum is up). streamdrift.dev.kafkacluster.KafkaCluster writes the
# same settings (CLUSTER_PROPERTIES there and CLUSTER_PROPS here are kept equal).
#
# Defaults: port 9092, controller port 9093, data dir <checkout>/.kafka; the environment variables
# KAFKA_PORT, KAFKA_CONTROLLER_PORT, KAFKA_DATA_DIR and JAVA (the java binary) override them.
# A second broker on other ports and another data dir runs beside the first. Only `fetch` needs the network.
#
# Secured listener (--sasl-ssl-port, or KAFKA_SASL_SSL_PORT): SASL_SSL with SCRAM-SHA-512 beside PLAINTEXT, a CA
# and broker certificate made with openssl in <data dir>/tls (clients trust tls/ca.pem), KRaft's
# StandardAuthorizer (User:ANONYMOUS on PLAINTEXT and User:admin are super users; other users need ACLs).
# SCRAM users are created by `kafka-storage format --add-scram` when the data dir is formatted: from
# KAFKA_SCRAM_USERS="name:password,name:password" (environment, never a flag), else admin and streamdrift with
# random passwords, written to <data dir>/scram-users (mode 0600). Settings in server.sasl_ssl.properties.template.
# streamdrift.localkafka.LocalKafka performs the same steps from Python with the same template files.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
LIB="$HERE/lib"
READY_LINE="Kafka Server started"

PORT="${KAFKA_PORT:-9092}"
CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-9093}"
DATA_DIR="${KAFKA_DATA_DIR:-$ROOT/.kafka}"
TIMEOUT=90
JAVA_BIN="${JAVA:-java}"
SASL_SSL_PORT="${KAFKA_SASL_SSL_PORT:-}"

die() { echo "kafka.sh: $*" >&2; exit 1; }

kafka_version() {
  sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$HERE/pom.xml" | head -n 1
}

jars_present() {
  [ -f "$LIB/kafka_2.13-$(kafka_version).jar" ] && compgen -G "$LIB/log4j-core-*.jar" >/dev/null
}

cmd_fetch() {
  if jars_present; then
    echo "kafka.sh: Kafka $(kafka_version) jars already in $LIB"
    return 0
  fi
  command -v mvn >/dev/null || die "Maven (mvn) is needed to fetch the Kafka jars"
  rm -rf "$LIB"
  (cd "$HERE" && mvn -q -B dependency:copy-dependencies -DoutputDirectory=lib)
  jars_present || die "Maven finished but kafka_2.13-$(kafka_version).jar is not in $LIB"
  echo "kafka.sh: fetched Kafka $(kafka_version) jars into $LIB"
}

parse_args() {
  while [ $# -gt 0 ]; do
    case "$1" in
      --port) PORT="$2"; shift 2 ;;
      --port=*) PORT="${1#*=}"; shift ;;
      --controller-port) CONTROLLER_PORT="$2"; shift 2 ;;
      --controller-port=*) CONTROLLER_PORT="${1#*=}"; shift ;;
      --data-dir) DATA_DIR="$2"; shift 2 ;;
      --data-dir=*) DATA_DIR="${1#*=}"; shift ;;
      --timeout) TIMEOUT="$2"; shift 2 ;;
      --timeout=*) TIMEOUT="${1#*=}"; shift ;;
      --sasl-ssl-port) SASL_SSL_PORT="$2"; shift 2 ;;
      --sasl-ssl-port=*) SASL_SSL_PORT="${1#*=}"; shift ;;
      *) die "unknown option: $1" ;;
    esac
  done
  mkdir -p "$DATA_DIR"
  DATA_DIR="$(cd "$DATA_DIR" && pwd)"
  PID_FILE="$DATA_DIR/kafka.pid"
  LOG_FILE="$DATA_DIR/kafka.log"
  PROPS="$DATA_DIR/server.properties"
}

running_pid() {
  [ -f "$PID_FILE" ] || return 1
  local pid
  pid="$(cat "$PID_FILE")"
  kill -0 "$pid" 2>/dev/null || return 1
  echo "$pid"
}

# A node of a cluster (cluster-start): NODE_ID, VOTERS and CLUSTER_ID set; these replace the template's lines.
NODE_ID=""
VOTERS=""
CLUSTER_ID=""
CLUSTER_PROPS="default.replication.factor=3 min.insync.replicas=2 offsets.topic.replication.factor=3
transaction.state.log.replication.factor=3 transaction.state.log.min.isr=2
share.coordinator.state.topic.replication.factor=3 share.coordinator.state.topic.min.isr=2 replica.lag.time.max.ms=10000"

render_properties() {
  ( umask 077
    sed -e "s|@PORT@|$PORT|g" -e "s|@CONTROLLER_PORT@|$CONTROLLER_PORT|g" -e "s|@LOG_DIRS@|$DATA_DIR/kraft-logs|g" \
      "$HERE/server.properties.template" > "$PROPS"
    if [ -n "$NODE_ID" ]; then
      local kv
      for kv in node.id="$NODE_ID" controller.quorum.voters="$VOTERS" $CLUSTER_PROPS; do
        sed -i -e "/^${kv%%=*}=/d" "$PROPS"
        echo "$kv" >> "$PROPS"
      done
    fi )
  [ -n "$SASL_SSL_PORT" ] || return 0
  ensure_tls
  echo >> "$PROPS"
  sed -e "s|@PORT@|$PORT|g" -e "s|@CONTROLLER_PORT@|$CONTROLLER_PORT|g" -e "s|@SASL_SSL_PORT@|$SASL_SSL_PORT|g" \
    -e "s|@TLS_DIR@|$DATA_DIR/tls|g" -e "s|@KEYSTORE_PASSWORD@|$(cat "$DATA_DIR/tls/keystore.password")|g" \
    -e "s|@SUPER_USERS@|User:ANONYMOUS;User:admin|g" "$HERE/server.sasl_ssl.properties.template" >> "$PROPS"
}

# CA, broker certificate (SAN 127.0.0.1, localhost) and PKCS#12 keystore in $DATA_DIR/tls, made once.
ensure_tls() {
  local t="$DATA_DIR/tls"
  [ -f "$t/broker.p12" ] && [ -f "$t/ca.pem" ] && [ -f "$t/keystore.password" ] && return 0
  command -v openssl >/dev/null || die "openssl is needed for the SASL_SSL listener"
  mkdir -p "$t" && chmod 700 "$t"
  ( umask 077; head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$t/keystore.password" )
  echo "subjectAltName=IP:127.0.0.1,DNS:localhost" > "$t/san.ext"
  { openssl req -x509 -newkey rsa:2048 -nodes -keyout "$t/ca.key" -out "$t/ca.pem" -days 30 \
      -subj "/CN=streamdrift local test CA" \
    && openssl req -newkey rsa:2048 -nodes -keyout "$t/broker.key" -out "$t/broker.csr" -subj "/CN=localhost" \
    && openssl x509 -req -in "$t/broker.csr" -CA "$t/ca.pem" -CAkey "$t/ca.key" -CAcreateserial \
      -out "$t/broker.pem" -days 30 -extfile "$t/san.ext" \
    && openssl pkcs12 -export -in "$t/broker.pem" -inkey "$t/broker.key" -certfile "$t/ca.pem" -name broker \
      -out "$t/broker.p12" -passout "file:$t/keystore.password"; } >/dev/null 2>&1 \
    || die "generating the TLS certificates in $t failed"
}

# --add-scram arguments of kafka-storage format (users from KAFKA_SCRAM_USERS, or admin + streamdrift, random).
scram_args() {
  local users="${KAFKA_SCRAM_USERS:-}" pair
  if [ -z "$users" ]; then
    users="admin:$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n'),streamdrift:$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  fi
  ( umask 077; echo "$users" | tr ',' '\n' > "$DATA_DIR/scram-users" )
  IFS=',' read -r -a pairs <<< "$users"
  for pair in "${pairs[@]}"; do
    echo "--add-scram"
    echo "SCRAM-SHA-512=[name=${pair%%:*},password=${pair#*:}]"
  done
}

jvm_options() {
  grep -v -e '^[[:space:]]*#' -e '^[[:space:]]*$' "$HERE/jvm.options"
}

cluster_id() {
  # 22 characters: a random 128-bit UUID in URL-safe base64 without padding, as Kafka expects.
  head -c 16 /dev/urandom | base64 | tr '+/' '-_' | cut -c 1-22
}

format_storage() {
  [ -f "$DATA_DIR/kraft-logs/meta.properties" ] && return 0
  local scram=()
  [ -z "$SASL_SSL_PORT" ] || mapfile -t scram < <(scram_args)
  "$JAVA_BIN" -cp "$LIB/*" -Dlog4j2.configurationFile="$HERE/log4j2.properties" \
    kafka.tools.StorageTool format --cluster-id="${CLUSTER_ID:-$(cluster_id)}" -c "$PROPS" "${scram[@]}" >>"$LOG_FILE" 2>&1 \
    || die "storage format failed; see $LOG_FILE"
}

metadata_ready() {
  local py="$ROOT/.venv/bin/python"
  if [ -x "$py" ] && "$py" -c 'import confluent_kafka' 2>/dev/null; then
    "$py" - "127.0.0.1:$PORT" <<'PYEOF' >/dev/null 2>&1
import sys
from confluent_kafka.admin import AdminClient
AdminClient({"bootstrap.servers": sys.argv[1]}).list_topics(timeout=5)
PYEOF
  else
    (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null
  fi
}

# Start the broker of the parsed options in the background: sets START_OFFSET (its log's size before) and pid file.
launch() {
  jars_present || cmd_fetch
  command -v "$JAVA_BIN" >/dev/null || die "Java 17+ is needed ($JAVA_BIN not found)"
  render_properties
  format_storage
  START_OFFSET=$(( $(wc -c < "$LOG_FILE" 2>/dev/null || echo 0) + 1 ))
  # setsid: the broker leads its own process group, so stop can signal the whole group.
  mapfile -t opts < <(jvm_options)
  setsid "$JAVA_BIN" "${opts[@]}" -Dlog4j2.configurationFile="$HERE/log4j2.properties" \
    -Dkafka.logs.dir="$DATA_DIR" -cp "$LIB/*" kafka.Kafka "$PROPS" >>"$LOG_FILE" 2>&1 < /dev/null &
  echo "$!" > "$PID_FILE"
}

cmd_start() {
  parse_args "$@"
  if pid="$(running_pid)"; then
    echo "kafka.sh: already running (pid $pid) on 127.0.0.1:$PORT"
    return 0
  fi
  launch
  wait_ready "$(cat "$PID_FILE")" "$START_OFFSET"
}

wait_ready() {
  local pid="$1" start_offset="$2"
  local deadline=$(( $(date +%s) + TIMEOUT ))
  until tail -c "+$start_offset" "$LOG_FILE" | grep -q "$READY_LINE"; do
    kill -0 "$pid" 2>/dev/null || { tail -n 40 "$LOG_FILE" >&2; die "broker exited during start-up"; }
    [ "$(date +%s)" -lt "$deadline" ] || { tail -n 40 "$LOG_FILE" >&2; die "no '$READY_LINE' within ${TIMEOUT}s"; }
    sleep 0.2
  done
  until metadata_ready; do
    [ "$(date +%s)" -lt "$deadline" ] || die "broker logged ready but metadata requests fail"
    sleep 0.2
  done
  echo "kafka.sh: Kafka ready on 127.0.0.1:$PORT (pid $pid, data $DATA_DIR)"
  if [ -n "$SASL_SSL_PORT" ]; then
    echo "kafka.sh: SASL_SSL (SCRAM-SHA-512) on 127.0.0.1:$SASL_SSL_PORT; CA $DATA_DIR/tls/ca.pem; users in $DATA_DIR/scram-users"
  fi
}

cmd_stop() {
  parse_args "$@"
  local pid
  if ! pid="$(running_pid)"; then
    echo "kafka.sh: not running"
    rm -f "$PID_FILE"
    return 0
  fi
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 150); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
  done
  if kill -0 "$pid" 2>/dev/null; then
    echo "kafka.sh: broker did not stop after SIGTERM, sending SIGKILL" >&2
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$PID_FILE"
  echo "kafka.sh: stopped (pid $pid)"
}

cmd_status() {
  parse_args "$@"
  local pid
  if pid="$(running_pid)"; then
    local port
    port="$(sed -n 's|^listeners=PLAINTEXT://127.0.0.1:\([0-9]*\).*|\1|p' "$PROPS" 2>/dev/null | tail -n 1 || true)"
    echo "running pid=$pid bootstrap=127.0.0.1:${port:-?} data=$DATA_DIR"
  else
    echo "stopped data=$DATA_DIR"
    return 3
  fi
}

cluster_args() {
  NODES=3
  CLUSTER_DIR="${KAFKA_DATA_DIR:-$ROOT/.kafka-cluster}"
  BASE_PORT="${KAFKA_PORT:-19092}"
  while [ $# -gt 0 ]; do
    case "$1" in
      --nodes) NODES="$2"; shift 2 ;;
      --port) BASE_PORT="$2"; shift 2 ;;
      --data-dir) CLUSTER_DIR="$2"; shift 2 ;;
      --timeout) TIMEOUT="$2"; shift 2 ;;
      *) die "unknown option: $1" ;;
    esac
  done
  VOTERS=""
  local i
  for i in $(seq 1 "$NODES"); do
    VOTERS="$VOTERS${VOTERS:+,}$i@127.0.0.1:$(( BASE_PORT + 2 * (i - 1) + 1 ))"
  done
  mkdir -p "$CLUSTER_DIR"
  [ -f "$CLUSTER_DIR/cluster.id" ] || cluster_id > "$CLUSTER_DIR/cluster.id"
  CLUSTER_ID="$(cat "$CLUSTER_DIR/cluster.id")"
}

node_args() {  # the options of node $1 of the cluster
  NODE_ID="$1"
  parse_args --port "$(( BASE_PORT + 2 * ($1 - 1) ))" --controller-port "$(( BASE_PORT + 2 * ($1 - 1) + 1 ))" \
    --data-dir "$CLUSTER_DIR/node-$1"
}

cmd_cluster_start() {
  cluster_args "$@"
  [ "$NODES" -ge 3 ] || CLUSTER_PROPS="$(echo "$CLUSTER_PROPS" | sed -e "s/=3/=$NODES/g" -e 's/=2/=1/g')"
  local i pids=() offsets=() bootstrap=""
  for i in $(seq 1 "$NODES"); do
    node_args "$i"
    if pid="$(running_pid)"; then pids+=("$pid"); offsets+=(""); else launch; pids+=("$(cat "$PID_FILE")"); offsets+=("$START_OFFSET"); fi
    bootstrap="$bootstrap${bootstrap:+,}127.0.0.1:$PORT"
  done
  for i in $(seq 1 "$NODES"); do
    node_args "$i"
    [ -z "${offsets[$((i - 1))]}" ] || wait_ready "${pids[$((i - 1))]}" "${offsets[$((i - 1))]}"
  done
  echo "kafka.sh: cluster of $NODES nodes ready, bootstrap $bootstrap (data $CLUSTER_DIR)"
}

cmd_cluster_each() {  # cluster-stop / cluster-status: the command for every node
  local what="$1"; shift
  cluster_args "$@"
  local i rc=0 pid
  if [ "$what" = stop ]; then  # SIGTERM every node first: a controlled shutdown needs the quorum's majority
    for i in $(seq 1 "$NODES"); do
      node_args "$i"
      if pid="$(running_pid)"; then kill -TERM -- "-$pid" 2>/dev/null || true; fi
    done
  fi
  for i in $(seq 1 "$NODES"); do
    node_args "$i"
    echo -n "node $i: "
    "cmd_$what" --port "$PORT" --data-dir "$DATA_DIR" || rc=$?
  done
  return "$rc"
}

case "${1:-}" in
  cluster-start) shift; cmd_cluster_start "$@" ;;
  cluster-stop) shift; cmd_cluster_each stop "$@" ;;
  cluster-status) shift; cmd_cluster_each status "$@" ;;
  fetch) shift; cmd_fetch "$@" ;;
  start) shift; cmd_start "$@" ;;
  stop) shift; cmd_stop "$@" ;;
  status) shift; cmd_status "$@" ;;
  *) echo "usage: $0 fetch|start|stop|status|cluster-start|cluster-stop|cluster-status [options]" >&2; exit 2 ;;
esac
