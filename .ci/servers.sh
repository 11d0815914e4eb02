#!/usr/bin/env bash
# Installs the browser and a JDK, and starts the real servers the tests need on this
# machine, and exports the variables that point the tests at them. Sourced
# by .ci/run; also usable by hand: `source .ci/servers.sh`. Installs
# Chromium, a JDK, PostgreSQL and Redis with apt-get when they are missing (as on
# a fresh machine). Stops only what it started, by pid file.

DEVICEAUTH_RUN_DIR=${DEVICEAUTH_RUN_DIR:-/tmp/deviceauth-ci}
mkdir -p "$DEVICEAUTH_RUN_DIR"

apt_updated=0
# Pid files of the servers this sourcing started (not of ones it found
# running, even when an earlier run started them from the same directory).
deviceauth_started=()
ensure_pkg() { # ensure_pkg BINARY PACKAGE...
	command -v "$1" >/dev/null 2>&1 && return 0
	ls /usr/lib/postgresql/*/bin/"$1" >/dev/null 2>&1 && return 0
	if [ "$apt_updated" = 0 ]; then apt-get update -qq >/dev/null; apt_updated=1; fi
	shift
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

wait_for() { # wait_for DESCRIPTION COMMAND...: up to 30 s
	local what=$1; shift
	for _ in $(seq 1 150); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.2
	done
	echo "$what did not come up" >&2
	return 1
}

# Headless Chromium for the browser tests (Debian's package).
ensure_pkg chromium chromium

# A JDK (17 or later) for the Java reference client's test under clients/java.
ensure_pkg javac default-jdk-headless

# PostgreSQL: the machine's own, started when it is not answering.
ensure_pkg pg_ctlcluster postgresql
if ! pg_isready -h 127.0.0.1 -p 5432 >/dev/null 2>&1; then
	pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
	wait_for PostgreSQL pg_isready -h 127.0.0.1 -p 5432
fi
if ! psql -h 127.0.0.1 -U postgres -d test -c 'select 1' >/dev/null 2>&1; then
	# A fresh install: allow trust on loopback and create the test database.
	conf=$(ls /etc/postgresql/*/main/pg_hba.conf | head -n1)
	if ! grep -q 'deviceauth-ci' "$conf"; then
		sed -i '1i host all all 127.0.0.1/32 trust # deviceauth-ci' "$conf"
		pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main reload || true
	fi
	su postgres -c "psql -c 'create database test'" >/dev/null 2>&1 || true
fi
export DEVICEAUTH_POSTGRES_URL=${DEVICEAUTH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test?sslmode=disable}

# Redis: the machine's own on 6379, started when it is not answering.
ensure_pkg redis-server redis-server
if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
	redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
		--pidfile "$DEVICEAUTH_RUN_DIR/redis-6379.pid" --logfile "$DEVICEAUTH_RUN_DIR/redis-6379.log"
	deviceauth_started+=("$DEVICEAUTH_RUN_DIR/redis-6379.pid")
	wait_for Redis redis-cli -h 127.0.0.1 -p 6379 ping
fi
export DEVICEAUTH_REDIS_URL=${DEVICEAUTH_REDIS_URL:-redis://127.0.0.1:6379/0}

# A 3-master Redis Cluster on loopback, ours alone.
cluster_ports="7100 7101 7102"
for p in $cluster_ports; do
	d="$DEVICEAUTH_RUN_DIR/cluster-$p"
	if ! redis-cli -h 127.0.0.1 -p "$p" ping >/dev/null 2>&1; then
		rm -rf "$d"; mkdir -p "$d"
		redis-server --port "$p" --cluster-enabled yes --cluster-config-file "$d/nodes.conf" --dir "$d" \
			--save '' --appendonly no --bind 127.0.0.1 --daemonize yes --pidfile "$d/pid" --logfile "$d/log" \
			--maxmemory-policy noeviction
		deviceauth_started+=("$d/pid")
		wait_for "Redis $p" redis-cli -h 127.0.0.1 -p "$p" ping
	fi
done
if ! redis-cli -h 127.0.0.1 -p 7100 cluster info 2>/dev/null | grep -q 'cluster_state:ok'; then
	redis-cli --cluster create 127.0.0.1:7100 127.0.0.1:7101 127.0.0.1:7102 --cluster-replicas 0 --cluster-yes >/dev/null
	wait_for "Redis Cluster" sh -c "redis-cli -h 127.0.0.1 -p 7100 cluster info | grep -q cluster_state:ok"
fi
export DEVICEAUTH_REDIS_CLUSTER_ADDRS=${DEVICEAUTH_REDIS_CLUSTER_ADDRS:-127.0.0.1:7100,127.0.0.1:7101,127.0.0.1:7102}

# Stops the servers this sourcing started (by pid file); servers that were
# already answering, the machine's own or another run's, are left as they were.
deviceauth_stop_servers() {
	local f
	for f in "${deviceauth_started[@]}"; do
		[ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null || true
	done
}
