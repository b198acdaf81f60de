#!/usr/bin/env bash
# A throwaway PostgreSQL 15 for tests and benchmarks.
#   scripts/pg.sh start DIR   -> prints a DATABASE_URL on stdout
#   scripts/pg.sh stop DIR
# The server runs as the `postgres` user (initdb refuses root), with its data and socket
# directories under DIR, on a free loopback port.
set -euo pipefail
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
cmd=${1:?start|stop}
dir=${2:?directory}

as_pg() {
  if [ "$(id -u)" = "0" ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "$cmd" in
start)
  if [ ! -x "$PGBIN/initdb" ]; then
    echo "PostgreSQL 15 not found in $PGBIN; installing postgresql-15" >&2
    (apt-get update -qq && apt-get install -y -qq postgresql-15) >&2
  fi
  mkdir -p "$dir"
  [ "$(id -u)" = "0" ] && chown postgres "$dir"
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
  as_pg "$PGBIN/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
  as_pg "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
    -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
    start >/dev/null
  as_pg "$PGBIN/createdb" -h 127.0.0.1 -p "$port" -U postgres passerelle
  echo "$port" > "$dir/port"
  echo "postgres://postgres@127.0.0.1:$port/passerelle"
  ;;
stop)
  if [ -f "$dir/data/postmaster.pid" ]; then
    as_pg "$PGBIN/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null || true
  fi
  rm -rf "$dir"
  ;;
*) echo "usage: $0 start|stop DIR" >&2; exit 2 ;;
esac
