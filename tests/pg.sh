#!/usr/bin/env bash
# Runs a command with a throwaway PostgreSQL server for the tests: a fresh cluster under
# $CARGO_TARGET_DIR/pg (or target/pg), listening on 127.0.0.1 at a free port, stopped when the
# command ends. The command finds it in SPOKE_TEST_PG_URL (the superuser `postgres`, trusted on
# loopback; the role `spoke_pw` must log in with a password, for the keychain tests, and so must
# every member of the group `spoke_password_login`: tests create such roles of their own).
# PostgreSQL refuses to run as root: as root, the server runs as the `postgres` OS user.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
base="${CARGO_TARGET_DIR:-$root/target}/pg"
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
if [[ -z "$bin" || ! -x "$bin/initdb" ]]; then
  echo "tests/pg.sh: PostgreSQL is not installed (apt-get install postgresql; make deps does it)" >&2
  exit 1
fi
as_pg() {
  if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
data="$base/data-$port"
rm -rf "$base"
mkdir -p "$data" "$base/sock"
chmod 755 "$base"
[[ $(id -u) -eq 0 ]] && chown -R postgres: "$base"
# Every directory above the cluster must be traversable by the server's user.
as_pg test -x "$base" || { echo "tests/pg.sh: $base is not reachable for the postgres user" >&2; exit 1; }
as_pg "$bin/initdb" -D "$data" -U postgres --auth=trust --no-sync -E UTF8 --locale=C.UTF-8 >"$base/initdb.log" 2>&1 \
  || { cat "$base/initdb.log" >&2; exit 1; }
cat >"$data/pg_hba.conf" <<EOF
local all all trust
host all spoke_pw 127.0.0.1/32 scram-sha-256
host all +spoke_password_login 127.0.0.1/32 scram-sha-256
host all all 127.0.0.1/32 trust
EOF
[[ $(id -u) -eq 0 ]] && chown postgres: "$data/pg_hba.conf"
stop() { as_pg "$bin/pg_ctl" -D "$data" -m immediate stop >/dev/null 2>&1 || true; }
trap stop EXIT
as_pg "$bin/pg_ctl" -D "$data" -w -t 60 -l "$base/server.log" \
  -o "-c listen_addresses=127.0.0.1 -p $port -k $base/sock -c fsync=off -c max_connections=200" start >/dev/null \
  || { cat "$base/server.log" >&2; exit 1; }
as_pg "$bin/psql" -q -h 127.0.0.1 -p "$port" -U postgres -d postgres \
  -c "CREATE ROLE spoke_pw LOGIN CREATEDB PASSWORD NULL" -c "CREATE ROLE spoke_password_login NOLOGIN" >/dev/null
export SPOKE_TEST_PG_URL="postgresql://postgres@127.0.0.1:$port/postgres"
set +e
"$@"
status=$?
set -e
exit $status
