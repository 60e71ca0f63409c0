#!/usr/bin/env bash
# Start the local test services (PostgreSQL, Redis, RabbitMQ) that are installed but not answering.
# Services that are not installed are reported and left alone; tests then skip, or fail when
# SPECSTAR_REQUIRE_SERVICES=1. Install them on Debian/Ubuntu with:
#   apt-get install postgresql redis-server rabbitmq-server
set -u

answers() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_for() {  # name port seconds
  local i
  for ((i = 0; i < $3 * 4; i++)); do
    answers "$2" && { echo "services: $1 is up on 127.0.0.1:$2"; return 0; }
    sleep 0.25
  done
  echo "services: $1 did not come up on 127.0.0.1:$2 within $3s" >&2
  return 1
}

start() {  # name port seconds command...
  local name=$1 port=$2 secs=$3
  shift 3
  if answers "$port"; then
    echo "services: $name is up on 127.0.0.1:$port"
    return 0
  fi
  if ! command -v "$1" >/dev/null 2>&1; then
    echo "services: $name is not installed ($1 not found); its tests will skip or fail"
    return 0
  fi
  echo "services: starting $name"
  "$@" >/dev/null 2>&1 || echo "services: '$*' failed" >&2
  wait_for "$name" "$port" "$secs"
}

pg_start() {
  local version
  version=$(ls /etc/postgresql 2>/dev/null | head -n 1)
  [ -n "$version" ] || return 1
  pg_ctlcluster --skip-systemctl-redirect "$version" main start
}

if command -v pg_ctlcluster >/dev/null 2>&1; then
  start postgresql 5432 30 pg_start
else
  answers 5432 && echo "services: postgresql is up on 127.0.0.1:5432" \
    || echo "services: postgresql is not installed; its tests will skip or fail"
fi
mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
start redis 6379 15 redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 \
  --save "" --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log
start rabbitmq 5672 90 rabbitmq-server -detached
exit 0
