#!/usr/bin/env bash
# freshet backing services for tests and local development.
#
# Runs PRIVATE instances of Redis, ClickHouse, Kafka (single-node KRaft) and
# Prometheus on 127.0.0.1 with non-default ports and all data under one
# temporary directory. The system services (systemd units) are never touched.
#
#   bash scripts/services.sh install        # apt packages + Kafka jars (via Maven), idempotent
#   bash scripts/services.sh start          # start all, wait until ready, write $DIR/env
#   bash scripts/services.sh status
#   bash scripts/services.sh stop           # stop all, remove data dir (KEEP=1 keeps it)
#   bash scripts/services.sh start-one|stop-one|restart-one redis|clickhouse|kafka|prometheus
#
# See scripts/README-services.md for ports, environment variables and the env file.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

# ---------------------------------------------------------------- settings --
DIR="${FRESHET_SERVICES_DIR:-/tmp/freshet-services}"
KAFKA_VERSION="${FRESHET_KAFKA_VERSION:-4.1.2}"
KAFKA_LIBS="${FRESHET_KAFKA_LIBS:-${XDG_CACHE_HOME:-$HOME/.cache}/freshet/kafka-$KAFKA_VERSION}"
KAFKA_POM="$SCRIPT_DIR/kafka/pom.xml"
KAFKA_HEAP="${FRESHET_KAFKA_HEAP:--Xms512m -Xmx512m}"
READY_TIMEOUT="${FRESHET_SERVICES_TIMEOUT:-90}"   # seconds, per service
STOP_TIMEOUT="${FRESHET_SERVICES_STOP_TIMEOUT:-30}" # seconds before SIGKILL

JAVA=java # resolved by require_installed
HOST=127.0.0.1
REDIS_PORT="${FRESHET_REDIS_PORT:-16379}"
CH_HTTP_PORT="${FRESHET_CLICKHOUSE_HTTP_PORT:-18123}"
CH_TCP_PORT="${FRESHET_CLICKHOUSE_TCP_PORT:-19000}"
KAFKA_PORT="${FRESHET_KAFKA_PORT:-19092}"
KAFKA_CONTROLLER_PORT="${FRESHET_KAFKA_CONTROLLER_PORT:-19093}"
PROM_PORT="${FRESHET_PROMETHEUS_PORT:-19090}"

SERVICES=(redis clickhouse kafka prometheus)
MARKER=".freshet-services"   # only a dir holding this file is ever rm -rf'ed

# ----------------------------------------------------------------- helpers --
ts() { date +%H:%M:%S; }
log() { printf '[services %s] %s\n' "$(ts)" "$*" >&2; }
die() { printf '[services %s] ERROR: %s\n' "$(ts)" "$*" >&2; exit 1; }

now() { date +%s; }

# Binaries (Debian ships clickhouse-server in /usr/sbin, which may not be on PATH).
find_bin() {
  local name=$1 p
  if p="$(command -v "$name" 2>/dev/null)"; then echo "$p"; return 0; fi
  for p in /usr/sbin/"$name" /usr/bin/"$name" /usr/local/bin/"$name" /usr/local/sbin/"$name"; do
    [[ -x $p ]] && { echo "$p"; return 0; }
  done
  return 1
}

clickhouse_server_cmd() {
  local p
  if p="$(find_bin clickhouse-server)"; then echo "$p"; return 0; fi
  if p="$(find_bin clickhouse)"; then echo "$p server"; return 0; fi
  return 1
}

java_major() { # java-binary -> major version number (e.g. 17), empty if unknown
  local out
  out="$("$1" -XshowSettings:properties -version 2>&1 || true)"
  [[ $out =~ java\.specification\.version\ =\ ([0-9]+) ]] && echo "${BASH_REMATCH[1]}"
  return 0
}

# Kafka 4.x needs Java >= 17. Prefer FRESHET_JAVA, then `java` on PATH, then Debian's JVM dirs.
find_java() {
  local j v
  for j in ${FRESHET_JAVA:-} ${JAVA_HOME:+$JAVA_HOME/bin/java} "$(command -v java 2>/dev/null || true)" \
    /usr/lib/jvm/java-17-openjdk-*/bin/java /usr/lib/jvm/java-21-openjdk-*/bin/java /usr/lib/jvm/*/bin/java; do
    [[ -n $j && -x $j ]] || continue
    v="$(java_major "$j")"
    [[ -n $v ]] && ((v >= 17)) && { echo "$j"; return 0; }
  done
  return 1
}

port_open() { # port -> 0 if something accepts TCP on 127.0.0.1:port
  (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null
}

log_file() {
  case $1 in
    redis) echo "$DIR/redis/redis.log" ;;
    clickhouse) echo "$DIR/clickhouse/log/clickhouse-server.log" ;;
    kafka) echo "$DIR/kafka/logs/server.log" ;;
    prometheus) echo "$DIR/prometheus/stdout.log" ;;
  esac
}
stdout_file() { echo "$DIR/$1/stdout.log"; }
pid_file() { echo "$DIR/$1.pid"; }

# A string that must appear in /proc/PID/cmdline, so a recycled PID is never
# mistaken for (or killed as) one of ours.
cmd_signature() {
  case $1 in
    redis) echo "redis-server" ;;
    clickhouse) echo "clickhouse" ;;
    kafka) echo "kafka.Kafka" ;;
    prometheus) echo "prometheus" ;;
  esac
}

svc_pid() { # prints the pid of a running instance of ours, or fails
  local f pid
  f="$(pid_file "$1")"
  [[ -s $f ]] || return 1
  pid="$(<"$f")"
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$(cmd_signature "$1")" || return 1
  echo "$pid"
}

svc_port() {
  case $1 in
    redis) echo "$REDIS_PORT" ;;
    clickhouse) echo "$CH_HTTP_PORT" ;;
    kafka) echo "$KAFKA_PORT" ;;
    prometheus) echo "$PROM_PORT" ;;
  esac
}

tail_logs() { # name -> prints the tails of the service's logs to stderr
  local f files=("$(stdout_file "$1")")
  [[ $(log_file "$1") != "${files[0]}" ]] && files+=("$(log_file "$1")")
  [[ $1 == clickhouse ]] && files+=("$DIR/clickhouse/log/clickhouse-server.err.log")
  [[ $1 == kafka ]] && files+=("$DIR/kafka/healthcheck.err")
  for f in "${files[@]}"; do
    if [[ -s $f ]]; then
      printf -- '----- last lines of %s -----\n' "$f" >&2
      tail -n 40 "$f" >&2
    fi
  done
}

kafka_java() { # run a Kafka tool class with a small, quick-starting JVM
  "$JAVA" -Xms32m -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xshare:auto \
    -Djava.awt.headless=true -Djava.net.preferIPv4Stack=true \
    -Dlog4j2.configurationFile="file:$DIR/kafka/tools-log4j2.properties" \
    -cp "$KAFKA_LIBS/*" "$@"
}

# ----------------------------------------------------------- health checks --
healthy() {
  case $1 in
    redis)
      [[ "$(timeout 5 redis-cli -h "$HOST" -p "$REDIS_PORT" PING 2>/dev/null)" == PONG ]]
      ;;
    clickhouse)
      [[ "$(curl -fsS --max-time 5 "http://$HOST:$CH_HTTP_PORT/?query=SELECT%201" 2>/dev/null)" == 1 ]]
      ;;
    prometheus)
      curl -fsS --max-time 5 -o /dev/null "http://$HOST:$PROM_PORT/-/ready" 2>/dev/null
      ;;
    kafka)
      # A real metadata round trip through the admin client, not just an open port.
      port_open "$KAFKA_PORT" || return 1
      # (admin.properties keeps the client's timeouts short; exit code 0 = success)
      kafka_java org.apache.kafka.tools.TopicCommand --bootstrap-server "$HOST:$KAFKA_PORT" \
        --command-config "$DIR/kafka/admin.properties" --list >/dev/null 2>"$DIR/kafka/healthcheck.err"
      ;;
  esac
}

wait_ready() { # name -> waits until healthy; dies with log tail on failure
  local name=$1 start deadline pid
  start="$(now)"
  deadline=$((start + READY_TIMEOUT))
  while :; do
    if healthy "$name"; then
      log "$name ready on $HOST:$(svc_port "$name") ($(($(now) - start))s)"
      return 0
    fi
    if ! pid="$(svc_pid "$name")"; then
      log "$name process exited during startup"
      tail_logs "$name"
      die "$name failed to start"
    fi
    if (($(now) >= deadline)); then
      log "$name (pid $pid) not ready after ${READY_TIMEOUT}s"
      tail_logs "$name"
      die "$name did not become ready within ${READY_TIMEOUT}s (override with FRESHET_SERVICES_TIMEOUT)"
    fi
    sleep 0.5
  done
}

# ----------------------------------------------------------------- install --
kafka_installed() { [[ -f $KAFKA_LIBS/.complete && -n $(compgen -G "$KAFKA_LIBS/kafka_2.13-*.jar") ]]; }

cmd_install() {
  local missing=() t0
  t0="$(now)"
  find_bin redis-server >/dev/null || missing+=(redis-server)
  find_bin redis-cli >/dev/null || missing+=(redis-tools)
  clickhouse_server_cmd >/dev/null || missing+=(clickhouse-server)
  find_bin clickhouse-client >/dev/null || missing+=(clickhouse-client)
  find_bin prometheus >/dev/null || missing+=(prometheus)
  find_bin curl >/dev/null || missing+=(curl)
  find_java >/dev/null || missing+=(openjdk-17-jre-headless)
  find_bin mvn >/dev/null || missing+=(maven)

  if ((${#missing[@]})); then
    [[ $(id -u) -eq 0 ]] || die "missing packages (${missing[*]}) and not root; install them with apt-get"
    log "installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # The full set is listed so a fresh machine gets everything the services need.
    apt-get install -y -qq --no-install-recommends \
      redis-server redis-tools clickhouse-server clickhouse-client prometheus \
      curl ca-certificates openjdk-17-jre-headless maven >/dev/null
  else
    log "Debian packages already installed (redis-server, clickhouse-server, clickhouse-client, prometheus, java, maven)"
  fi

  if kafka_installed; then
    log "Kafka $KAFKA_VERSION jars already cached in $KAFKA_LIBS"
  else
    log "resolving Kafka $KAFKA_VERSION jars with Maven into $KAFKA_LIBS"
    local tmp mvnlog
    mkdir -p "$(dirname "$KAFKA_LIBS")"
    tmp="$(mktemp -d "$KAFKA_LIBS.tmp.XXXXXX")"
    mvnlog="$tmp.mvn.log"
    if ! mvn -B -q -Dstyle.color=never -f "$KAFKA_POM" dependency:copy-dependencies \
      -Dkafka.version="$KAFKA_VERSION" -DoutputDirectory="$tmp" >"$mvnlog" 2>&1; then
      tail -n 40 "$mvnlog" >&2
      rm -rf "$tmp" "$mvnlog"
      die "Maven could not resolve org.apache.kafka:kafka_2.13:$KAFKA_VERSION"
    fi
    rm -f "$mvnlog"
    echo "$KAFKA_VERSION" >"$tmp/.complete"
    rm -rf "$KAFKA_LIBS"
    mv "$tmp" "$KAFKA_LIBS"
    log "Kafka jars cached ($(find "$KAFKA_LIBS" -name '*.jar' | wc -l) jars)"
  fi
  log "install done ($(($(now) - t0))s)"
}

require_installed() {
  if ! { find_bin redis-server && find_bin redis-cli && clickhouse_server_cmd &&
    find_bin prometheus && find_bin curl; } >/dev/null; then
    die "some packages are missing; run: bash scripts/services.sh install"
  fi
  JAVA="$(find_java)" || die "no Java >= 17 found (Kafka 4 needs it); run: bash scripts/services.sh install, or set FRESHET_JAVA"
  kafka_installed || die "Kafka $KAFKA_VERSION jars not found in $KAFKA_LIBS; run: bash scripts/services.sh install"
}

# ------------------------------------------------------------- configs -----
prepare_dir() {
  mkdir -p "$DIR"
  [[ -f $DIR/$MARKER ]] || {
    # refuse to adopt a non-empty directory we did not create
    if [[ -n $(ls -A "$DIR" 2>/dev/null) ]]; then
      die "$DIR exists, is not empty and was not created by services.sh; choose another FRESHET_SERVICES_DIR"
    fi
    echo "created by freshet scripts/services.sh $(date -u +%FT%TZ)" >"$DIR/$MARKER"
  }
}

write_redis_config() {
  mkdir -p "$DIR/redis"
  cat >"$DIR/redis/redis.conf" <<EOF
# generated by scripts/services.sh
bind $HOST
protected-mode yes
port $REDIS_PORT
daemonize no
supervised no
dir $DIR/redis
logfile $DIR/redis/redis.log
loglevel notice
databases 16
# Persistence: the AOF lets data survive a restart-one (chaos tests).
save ""
appendonly yes
appendfsync everysec
appendfilename "appendonly.aof"
# Every commit rewrites the values it touches, so the AOF outgrows the data fast: rewritten at
# 2x its base it was compacted several times an ingest (a forked child each, a tenth of the
# machine's CPU); at 5x, about once.
auto-aof-rewrite-percentage 400
maxmemory 1gb
maxmemory-policy noeviction
EOF
}

write_clickhouse_config() {
  local d="$DIR/clickhouse"
  mkdir -p "$d/data" "$d/tmp" "$d/user_files" "$d/format_schemas" "$d/log"
  # ClickHouse 18.16 (Debian) uses the <yandex> root element. No interserver_http_port
  # is configured, so no interserver listener is opened.
  cat >"$d/config.xml" <<EOF
<?xml version="1.0"?>
<!-- generated by scripts/services.sh -->
<yandex>
    <logger>
        <level>information</level>
        <log>$d/log/clickhouse-server.log</log>
        <errorlog>$d/log/clickhouse-server.err.log</errorlog>
        <size>100M</size>
        <count>2</count>
    </logger>
    <listen_host>$HOST</listen_host>
    <http_port>$CH_HTTP_PORT</http_port>
    <tcp_port>$CH_TCP_PORT</tcp_port>
    <max_connections>1024</max_connections>
    <keep_alive_timeout>3</keep_alive_timeout>
    <max_concurrent_queries>100</max_concurrent_queries>
    <uncompressed_cache_size>268435456</uncompressed_cache_size>
    <mark_cache_size>268435456</mark_cache_size>
    <path>$d/data/</path>
    <tmp_path>$d/tmp/</tmp_path>
    <user_files_path>$d/user_files/</user_files_path>
    <format_schema_path>$d/format_schemas/</format_schema_path>
    <users_config>$d/users.xml</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <timezone>UTC</timezone>
    <mlock_executable>false</mlock_executable>
    <builtin_dictionaries_reload_interval>3600</builtin_dictionaries_reload_interval>
    <max_session_timeout>3600</max_session_timeout>
    <default_session_timeout>60</default_session_timeout>
</yandex>
EOF
  cat >"$d/users.xml" <<'EOF'
<?xml version="1.0"?>
<!-- generated by scripts/services.sh -->
<yandex>
    <profiles>
        <default>
            <max_memory_usage>4000000000</max_memory_usage>
            <use_uncompressed_cache>0</use_uncompressed_cache>
            <load_balancing>random</load_balancing>
        </default>
        <readonly>
            <readonly>1</readonly>
        </readonly>
    </profiles>
    <users>
        <default>
            <password></password>
            <networks>
                <ip>127.0.0.1</ip>
                <ip>::1</ip>
            </networks>
            <profile>default</profile>
            <quota>default</quota>
        </default>
    </users>
    <quotas>
        <default>
            <interval>
                <duration>3600</duration>
                <queries>0</queries>
                <errors>0</errors>
                <result_rows>0</result_rows>
                <read_rows>0</read_rows>
                <execution_time>0</execution_time>
            </interval>
        </default>
    </quotas>
</yandex>
EOF
}

write_kafka_config() {
  local d="$DIR/kafka"
  mkdir -p "$d/data" "$d/logs"
  cat >"$d/server.properties" <<EOF
# generated by scripts/services.sh -- single-node KRaft (combined broker + controller)
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@$HOST:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://$HOST:$KAFKA_PORT,CONTROLLER://$HOST:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://$HOST:$KAFKA_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$d/data

num.partitions=4
default.replication.factor=1
min.insync.replicas=1
auto.create.topics.enable=true
delete.topic.enable=true

offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0

num.network.threads=2
num.io.threads=4
num.recovery.threads.per.data.dir=1
log.retention.hours=24
log.segment.bytes=67108864
log.retention.check.interval.ms=60000
EOF
  cat >"$d/admin.properties" <<'EOF'
request.timeout.ms=5000
default.api.timeout.ms=10000
EOF
  cat >"$d/log4j2.properties" <<EOF
# generated by scripts/services.sh
status = warn
appender.file.type = File
appender.file.name = FILE
appender.file.fileName = $d/logs/server.log
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = FILE
logger.kafka.name = kafka
logger.kafka.level = INFO
logger.apache.name = org.apache.kafka
logger.apache.level = INFO
logger.statechange.name = state.change.logger
logger.statechange.level = WARN
logger.request.name = kafka.request.logger
logger.request.level = WARN
EOF
  cat >"$d/tools-log4j2.properties" <<'EOF'
status = error
appender.err.type = Console
appender.err.name = STDERR
appender.err.target = SYSTEM_ERR
appender.err.layout.type = PatternLayout
appender.err.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.err.ref = STDERR
EOF
}

write_prometheus_config() {
  local d="$DIR/prometheus"
  mkdir -p "$d/data"
  if [[ -n ${FRESHET_PROMETHEUS_CONFIG:-} ]]; then
    cp "$FRESHET_PROMETHEUS_CONFIG" "$d/prometheus.yml"
    return
  fi
  cat >"$d/prometheus.yml" <<EOF
# generated by scripts/services.sh (set FRESHET_PROMETHEUS_CONFIG to use another file)
global:
  scrape_interval: 5s
  evaluation_interval: 5s
scrape_configs:
  - job_name: prometheus
    static_configs:
      - targets: ['$HOST:$PROM_PORT']
EOF
}

kafka_format_storage() {
  local d="$DIR/kafka"
  [[ -f $d/data/meta.properties ]] && return 0
  local cid
  # Random cluster id (Kafka Uuid = 16 random bytes, base64url without padding,
  # never starting with '-').
  cid="$(kafka_java kafka.tools.StorageTool random-uuid 2>>"$d/stdout.log" | tail -n 1)"
  [[ $cid =~ ^[A-Za-z0-9_][A-Za-z0-9_-]{21}$ ]] || die "StorageTool random-uuid returned '$cid'"
  log "kafka: formatting KRaft storage (cluster id $cid)"
  if ! kafka_java kafka.tools.StorageTool format -t "$cid" -c "$d/server.properties" \
    >>"$d/stdout.log" 2>&1; then
    tail -n 20 "$d/stdout.log" >&2
    die "kafka storage format failed"
  fi
  echo "$cid" >"$d/cluster-id"
}

# ------------------------------------------------------------ start / stop --
spawn() { # name logfile cmd... -> starts cmd detached (own session), child writes its own pid
  local name=$1 out=$2
  shift 2
  rm -f "$(pid_file "$name")"
  # fd 9 (the services lock) is closed so the long-running server does not hold it.
  # shellcheck disable=SC2016 # $$ and $@ are expanded by the inner bash
  setsid bash -c 'echo $$ >"$0"; exec "$@"' "$(pid_file "$name")" "$@" </dev/null >>"$out" 2>&1 9>&- &
  local _
  for _ in $(seq 1 50); do
    [[ -s $(pid_file "$name") ]] && return 0
    sleep 0.1
  done
  die "$name: could not record its pid"
}

launch() { # name -> starts the process (no waiting for readiness)
  local name=$1 port pid
  if pid="$(svc_pid "$name")"; then
    log "$name already running (pid $pid)"
    return 0
  fi
  port="$(svc_port "$name")"
  if port_open "$port"; then
    die "port $HOST:$port is already in use by another process; cannot start $name (see: ss -ltnp | grep $port)"
  fi
  case $name in
    redis)
      write_redis_config
      spawn redis "$(stdout_file redis)" "$(find_bin redis-server)" "$DIR/redis/redis.conf"
      ;;
    clickhouse)
      port_open "$CH_TCP_PORT" && die "port $HOST:$CH_TCP_PORT (ClickHouse native) is already in use"
      write_clickhouse_config
      local -a chcmd
      read -r -a chcmd <<<"$(clickhouse_server_cmd)"
      # Debian's 18.16 runs fine as root (it does not refuse), so no user switch is needed.
      spawn clickhouse "$(stdout_file clickhouse)" "${chcmd[@]}" --config-file="$DIR/clickhouse/config.xml"
      ;;
    kafka)
      port_open "$KAFKA_CONTROLLER_PORT" && die "port $HOST:$KAFKA_CONTROLLER_PORT (Kafka controller) is already in use"
      write_kafka_config
      kafka_format_storage
      local -a heap
      read -r -a heap <<<"$KAFKA_HEAP"
      spawn kafka "$(stdout_file kafka)" "$JAVA" "${heap[@]}" \
        -server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 \
        -XX:+ExplicitGCInvokesConcurrent -Djava.awt.headless=true -Djava.net.preferIPv4Stack=true \
        -Dlog4j2.configurationFile="file:$DIR/kafka/log4j2.properties" \
        -Dkafka.logs.dir="$DIR/kafka/logs" \
        -cp "$KAFKA_LIBS/*" kafka.Kafka "$DIR/kafka/server.properties"
      ;;
    prometheus)
      write_prometheus_config
      spawn prometheus "$(stdout_file prometheus)" "$(find_bin prometheus)" \
        --config.file="$DIR/prometheus/prometheus.yml" \
        --storage.tsdb.path="$DIR/prometheus/data" \
        --storage.tsdb.retention.time=1d \
        --web.listen-address="$HOST:$PROM_PORT" \
        --web.enable-lifecycle \
        --log.level=info
      ;;
  esac
  log "$name started (pid $(<"$(pid_file "$name")"))"
}

write_env() {
  local tmp="$DIR/env.tmp"
  cat >"$tmp" <<EOF
# generated by scripts/services.sh -- source this file
export FRESHET_SERVICES_DIR=$DIR
export REDIS_URL=redis://$HOST:$REDIS_PORT
export CLICKHOUSE_URL=http://$HOST:$CH_HTTP_PORT
export KAFKA_BROKERS=$HOST:$KAFKA_PORT
export PROMETHEUS_URL=http://$HOST:$PROM_PORT
# the ports, so that later calls of this script (restart-one ...) act on this instance
export FRESHET_REDIS_PORT=$REDIS_PORT FRESHET_CLICKHOUSE_HTTP_PORT=$CH_HTTP_PORT
export FRESHET_CLICKHOUSE_TCP_PORT=$CH_TCP_PORT FRESHET_KAFKA_PORT=$KAFKA_PORT
export FRESHET_KAFKA_CONTROLLER_PORT=$KAFKA_CONTROLLER_PORT FRESHET_PROMETHEUS_PORT=$PROM_PORT
EOF
  mv "$tmp" "$DIR/env"
}

valid_name() {
  local n
  for n in "${SERVICES[@]}"; do [[ $1 == "$n" ]] && return 0; done
  die "unknown service '$1' (expected one of: ${SERVICES[*]})"
}

start_services() { # names... -> launch all, then wait for each
  local t0 n
  t0="$(now)"
  require_installed
  prepare_dir
  for n in "$@"; do launch "$n"; done
  for n in "$@"; do wait_ready "$n"; done
  write_env
  log "ready in $(($(now) - t0))s; env file: $DIR/env"
}

cmd_start() {
  local n all_ok=1 pid
  if [[ -f $DIR/$MARKER ]]; then
    for n in "${SERVICES[@]}"; do
      if pid="$(svc_pid "$n")" && healthy "$n"; then :; else all_ok=0; break; fi
    done
    if ((all_ok)); then
      write_env
      log "all services already running and healthy; env file: $DIR/env"
      return 0
    fi
  fi
  log "starting redis, clickhouse, kafka, prometheus under $DIR"
  start_services "${SERVICES[@]}"
}

# Sends TERM to each named service, waits, then KILLs stragglers.
stop_services() {
  local n pid deadline
  local -A pids=()
  for n in "$@"; do
    if pid="$(svc_pid "$n")"; then
      log "stopping $n (pid $pid)"
      kill -TERM "$pid" 2>/dev/null || true
      pids[$n]=$pid
    else
      log "$n not running"
      rm -f "$(pid_file "$n")"
    fi
  done
  deadline=$(($(now) + STOP_TIMEOUT))
  for n in "${!pids[@]}"; do
    pid=${pids[$n]}
    while kill -0 "$pid" 2>/dev/null && (($(now) < deadline)); do sleep 0.2; done
    if kill -0 "$pid" 2>/dev/null; then
      log "$n (pid $pid) did not exit after ${STOP_TIMEOUT}s; sending KILL"
      kill -KILL "$pid" 2>/dev/null || true
      while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
    fi
    rm -f "$(pid_file "$n")"
    log "$n stopped"
  done
}

cmd_stop() {
  if [[ ! -d $DIR ]]; then
    log "nothing to stop ($DIR does not exist)"
    return 0
  fi
  stop_services "${SERVICES[@]}"
  if [[ ${KEEP:-0} == 1 ]]; then
    rm -f "$DIR/env" # nothing is listening any more
    log "KEEP=1: data kept in $DIR"
  elif [[ -f $DIR/$MARKER ]]; then
    rm -rf -- "$DIR"
    log "removed $DIR"
  else
    log "$DIR was not created by services.sh; not removing it"
  fi
}

cmd_status() {
  local n pid state rc=0
  printf '%-11s %-9s %-8s %s\n' SERVICE STATE PID ADDRESS
  for n in "${SERVICES[@]}"; do
    if pid="$(svc_pid "$n")"; then
      if healthy "$n"; then state=healthy; else state=unhealthy; rc=1; fi
    else
      pid=-
      state=stopped
      rc=1
    fi
    printf '%-11s %-9s %-8s %s\n' "$n" "$state" "$pid" "$HOST:$(svc_port "$n")"
  done
  [[ -f $DIR/env ]] && echo "env file: $DIR/env"
  return $rc
}

usage() {
  cat >&2 <<'EOF'
usage: bash scripts/services.sh COMMAND
  install                 install missing Debian packages and cache the Kafka jars
  start                   start redis, clickhouse, kafka, prometheus; write $FRESHET_SERVICES_DIR/env
  stop                    stop all and delete the data dir (KEEP=1 keeps it)
  status                  print each service's state (exit 1 unless all healthy)
  start-one NAME          start one service (data dir kept)
  stop-one NAME           stop one service (data dir kept)
  restart-one NAME        stop + start one service (data dir kept)
NAME is one of: redis clickhouse kafka prometheus
EOF
  exit 2
}

lock() { # serialise concurrent invocations that change state
  mkdir -p "$(dirname "$DIR")"
  exec 9>"${DIR%/}.lock"
  flock -w 600 9 || die "another services.sh is still running (lock ${DIR%/}.lock)"
}

main() {
  local cmd=${1:-}
  case $cmd in
    start | stop | start-one | stop-one | restart-one) lock ;;
  esac
  [[ $cmd == install ]] || JAVA="$(find_java || echo java)"
  case $cmd in
    install) cmd_install ;;
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    start-one)
      [[ $# -eq 2 ]] || usage
      valid_name "$2"
      start_services "$2"
      ;;
    stop-one)
      [[ $# -eq 2 ]] || usage
      valid_name "$2"
      [[ -d $DIR ]] || die "$DIR does not exist"
      stop_services "$2"
      ;;
    restart-one)
      [[ $# -eq 2 ]] || usage
      valid_name "$2"
      [[ -d $DIR ]] || die "$DIR does not exist"
      stop_services "$2"
      start_services "$2"
      ;;
    -h | --help | help) usage ;;
    *) usage ;;
  esac
}

main "$@"
