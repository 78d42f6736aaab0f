# shellcheck shell=bash
# PostgreSQL and NATS (JetStream) for the distributed test suite, started as
# the unprivileged user inside a Nix check's build sandbox (no daemon, no
# root, nothing outside the state directory). Also usable from a dev shell.
#
# Source it, then call `startTestServices`; it exports TEST_DATABASE_URL and
# TEST_NATS_URL. `stopTestServices` stops both and is safe to call twice.
#
# Needs on PATH: initdb, pg_ctl, createdb, nats-server.
# Reads:
#   NATS_SERVER_CONFIG  the NATS config (nix/nats/server.conf); required
#   TEST_SERVICES_DIR   state directory (default: $TMPDIR/test-services)
#   TEST_PG_PORT        PostgreSQL TCP port (default 5432)
#   TEST_NATS_PORT      NATS client port (default 4222)
# On Linux the Nix sandbox has its own network namespace, so the default
# ports are always free there; elsewhere pick free ones.

_testServicesDir() {
  printf '%s' "${TEST_SERVICES_DIR:-${TMPDIR:-/tmp}/test-services}"
}

startTestServices() {
  local state pgPort natsPort i
  state=$(_testServicesDir)
  pgPort=${TEST_PG_PORT:-5432}
  natsPort=${TEST_NATS_PORT:-4222}
  : "${NATS_SERVER_CONFIG:?set NATS_SERVER_CONFIG to nix/nats/server.conf}"
  local natsConfig
  natsConfig=$(realpath "$NATS_SERVER_CONFIG") # nats-server starts elsewhere
  mkdir -p "$state"

  # PostgreSQL: a throwaway cluster with trust auth on loopback TCP only. No
  # Unix socket: its default directory (/run/postgresql) does not exist in
  # the sandbox, and socket paths under a long $TMPDIR exceed the 107-byte
  # limit on macOS. fsync off: the data dies with the build anyway.
  initdb --pgdata="$state/pg" --username=postgres --auth=trust \
    --encoding=UTF8 --no-locale >"$state/initdb.log" 2>&1 || {
    cat "$state/initdb.log" >&2
    return 1
  }
  cat >>"$state/pg/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $pgPort
unix_socket_directories = ''
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 200
EOF
  # pg_ctl --wait reads postmaster.pid for readiness, so it needs no socket.
  pg_ctl --pgdata="$state/pg" --log="$state/postgres.log" --wait --timeout=60 start >/dev/null || {
    cat "$state/postgres.log" >&2
    return 1
  }
  createdb --host=127.0.0.1 --port="$pgPort" --username=postgres platform_test
  export TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$pgPort/platform_test"

  # NATS with the project's own config, so the checks exercise its accounts
  # and JetStream settings. Its relative store_dir ("var/nats") lands under
  # the directory it is started in; passing -sd as well would be rejected as a
  # duplicate store_dir. Anonymous client connections are the `platform` user
  # (no_auth_user), so the URL carries no credentials.
  mkdir -p "$state/nats"
  (cd "$state/nats" && exec nats-server -c "$natsConfig" \
    -a 127.0.0.1 -p "$natsPort" -l "$state/nats.log" -P "$state/nats.pid") &
  for i in $(seq 1 100); do
    if grep -q "Server is ready" "$state/nats.log" 2>/dev/null; then
      break
    fi
    if [ "$i" = 100 ]; then
      echo "nats-server did not become ready:" >&2
      cat "$state/nats.log" >&2 2>/dev/null || true
      return 1
    fi
    sleep 0.1
  done
  export TEST_NATS_URL="nats://127.0.0.1:$natsPort"

  echo "test services up: $TEST_DATABASE_URL $TEST_NATS_URL (state in $state)"
}

stopTestServices() {
  local state
  state=$(_testServicesDir)
  if [ -f "$state/pg/postmaster.pid" ]; then
    pg_ctl --pgdata="$state/pg" --mode=fast --wait stop >/dev/null || true
  fi
  if [ -f "$state/nats.pid" ]; then
    kill "$(cat "$state/nats.pid")" 2>/dev/null || true
    rm -f "$state/nats.pid"
  fi
}
