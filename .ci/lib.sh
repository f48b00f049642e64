# Shared by .ci/serve and .ci/test: install what is missing, get a database.
# Sourced, not run. Every step is idempotent: a second run reuses what the first made.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DATA_DIR="${VERDICT_DATA_DIR:-$ROOT/data}"
CARGO_LEPTOS_VERSION="0.3.10"
WASM_BINDGEN_VERSION="0.2.130"
# The same version as the sqlx crate in Cargo.lock.
SQLX_CLI_VERSION="0.8.6"

# One set of compiler flags for every build (debug and release, server and WASM), so that no
# command makes another rebuild everything. `erase_components` type-erases Leptos' views:
# debug builds compile much faster, and the release WASM is a fifth smaller (636 → 503 KiB
# gzip when it was measured). Anything the user put in RUSTFLAGS is kept after it.
use_build_flags() {
  case " ${RUSTFLAGS:-} " in
    *" --cfg erase_components "*) ;;
    *) export RUSTFLAGS="--cfg erase_components${RUSTFLAGS:+ $RUSTFLAGS}" ;;
  esac
  # The variable cargo-leptos sets that Leptos reads at compile time: the same everywhere.
  export LEPTOS_OUTPUT_NAME=verdict
}

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    die "need root to run: $*"; fi
}

apt_install() {
  say "installing Debian packages: $*"
  as_root apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null
}

ensure_rust() {
  command -v cargo >/dev/null || die "cargo is missing: install Rust with rustup first"
  if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
    say "adding the wasm32-unknown-unknown target"
    rustup target add wasm32-unknown-unknown
  fi
  export PATH="$HOME/.cargo/bin:$PATH"
  if ! cargo leptos --version 2>/dev/null | grep -q "$CARGO_LEPTOS_VERSION"; then
    # --debug: installs in about 6 minutes instead of 21, and builds the same output.
    say "installing cargo-leptos $CARGO_LEPTOS_VERSION (takes a few minutes, once)"
    cargo install "cargo-leptos@$CARGO_LEPTOS_VERSION" --locked --debug
  fi
  if ! wasm-bindgen --version 2>/dev/null | grep -q "$WASM_BINDGEN_VERSION"; then
    # Must match the wasm-bindgen crate pinned in Cargo.toml. Not --locked: the locked set
    # needs a crate version the registry lacks.
    say "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION (takes a few minutes, once)"
    cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION"
  fi
}

# sqlx-cli, the official tool that writes the offline query data of `query!` and the like to
# .sqlx/ and checks it is current (`cargo sqlx prepare [--check]`). PostgreSQL only: no TLS,
# no other database, so it builds in about 2 minutes.
ensure_sqlx_cli() {
  command -v cargo >/dev/null || die "cargo is missing: install Rust with rustup first"
  export PATH="$HOME/.cargo/bin:$PATH"
  if ! cargo sqlx --version 2>/dev/null | grep -q " $SQLX_CLI_VERSION\$"; then
    say "installing sqlx-cli $SQLX_CLI_VERSION (takes a couple of minutes, once)"
    cargo install sqlx-cli --version "$SQLX_CLI_VERSION" --locked --no-default-features --features postgres
  fi
}

# npm packages of end2end/: Playwright, and binaryen's wasm-opt (Debian's wasm-opt 108
# produces WASM that fails to hydrate).
ensure_node_modules() {
  command -v npm >/dev/null || apt_install nodejs npm
  if [ ! -x "$ROOT/end2end/node_modules/.bin/wasm-opt" ] || [ ! -x "$ROOT/end2end/node_modules/.bin/playwright" ] \
     || [ "$ROOT/end2end/package-lock.json" -nt "$ROOT/end2end/node_modules/.package-lock.json" ]; then
    say "installing end2end's npm packages"
    (cd "$ROOT/end2end" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)
  fi
  export PATH="$ROOT/end2end/node_modules/.bin:$PATH"
}

ensure_chromium() {
  command -v chromium >/dev/null || apt_install chromium
}

# --- PostgreSQL -------------------------------------------------------------------------

pg_bin_dir() {
  ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}

ensure_postgres_binaries() {
  if [ -z "$(pg_bin_dir)" ] || [ ! -x "$(pg_bin_dir)/initdb" ]; then
    apt_install postgresql
  fi
  [ -x "$(pg_bin_dir)/initdb" ] || die "no initdb found under /usr/lib/postgresql after installing"
}

# Runs a PostgreSQL tool as the owner of the cluster (PostgreSQL refuses to run as root).
as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# Starts (or reuses) the private cluster under $DATA_DIR/postgres and exports DATABASE_URL
# for database $1. It listens on a Unix socket in a folder of its own only: no TCP port, so
# nothing can clash with a server already running on the machine.
start_private_postgres() {
  local dbname="$1"
  ensure_postgres_binaries
  local bin major pgdata sockdir
  bin="$(pg_bin_dir)"
  major="$(basename "$(dirname "$bin")")"
  pgdata="$DATA_DIR/postgres"
  sockdir="$DATA_DIR/run"
  # A Unix socket path has at most 107 bytes.
  if [ ${#sockdir} -gt 80 ]; then
    sockdir="/tmp/verdict-$(printf '%s' "$DATA_DIR" | sha256sum | cut -c1-12)"
  fi
  mkdir -p "$DATA_DIR" "$sockdir"
  if [ -f "$pgdata/PG_VERSION" ]; then
    local have
    have="$(cat "$pgdata/PG_VERSION")"
    if [ "$have" != "$major" ]; then
      die "$pgdata holds a PostgreSQL $have cluster, but this machine has PostgreSQL $major.
       Upgrade it with pg_upgrade, or move the folder away to start afresh (its data stays in it)."
    fi
  else
    say "creating a private PostgreSQL $major cluster in $pgdata"
    mkdir -p "$pgdata"
    [ "$(id -u)" = 0 ] && chown postgres:postgres "$pgdata"
    chmod 700 "$pgdata"
    as_pg "$bin/initdb" -D "$pgdata" -A trust -U postgres --encoding=UTF8 --locale=C.UTF-8 >/dev/null
  fi
  [ "$(id -u)" = 0 ] && chown postgres:postgres "$sockdir"
  if ! as_pg "$bin/pg_ctl" -D "$pgdata" status >/dev/null 2>&1; then
    say "starting PostgreSQL (socket in $sockdir)"
    touch "$DATA_DIR/postgres.log"
    [ "$(id -u)" = 0 ] && chown postgres:postgres "$DATA_DIR/postgres.log"
    as_pg "$bin/pg_ctl" -D "$pgdata" -l "$DATA_DIR/postgres.log" -w -t 60 \
      -o "-c listen_addresses='' -k $sockdir -c max_connections=200 -c fsync=on" start >/dev/null \
      || die "PostgreSQL did not start; see $DATA_DIR/postgres.log"
  fi
  export VERDICT_PG_SOCKET="$sockdir"
  export DATABASE_URL="postgres://postgres@localhost/$dbname?host=$sockdir"
}

# A second private cluster, for the fault-injection tests that restart PostgreSQL under load
# (tests/api/faults.rs): its own folder and socket, so restarting it disturbs no other test.
# Exports VERDICT_FAULT_PGDATA, VERDICT_FAULT_PGBIN and VERDICT_FAULT_DATABASE_URL.
start_restartable_postgres() {
  ensure_postgres_binaries
  local bin pgdata sockdir
  bin="$(pg_bin_dir)"
  pgdata="$DATA_DIR/fault-postgres"
  sockdir="$DATA_DIR/fault-run"
  if [ ${#sockdir} -gt 80 ]; then
    sockdir="/tmp/verdict-fault-$(printf '%s' "$DATA_DIR" | sha256sum | cut -c1-12)"
  fi
  mkdir -p "$sockdir"
  if [ ! -f "$pgdata/PG_VERSION" ]; then
    mkdir -p "$pgdata"
    [ "$(id -u)" = 0 ] && chown postgres:postgres "$pgdata"
    chmod 700 "$pgdata"
    as_pg "$bin/initdb" -D "$pgdata" -A trust -U postgres --encoding=UTF8 --locale=C.UTF-8 >/dev/null
    # The server's settings live in the cluster, so that `pg_ctl restart` keeps them.
    cat >> "$pgdata/postgresql.conf" <<CONF
listen_addresses = ''
unix_socket_directories = '$sockdir'
max_connections = 100
fsync = on
CONF
  fi
  [ "$(id -u)" = 0 ] && chown postgres:postgres "$sockdir"
  if ! as_pg "$bin/pg_ctl" -D "$pgdata" status >/dev/null 2>&1; then
    touch "$DATA_DIR/fault-postgres.log"
    [ "$(id -u)" = 0 ] && chown postgres:postgres "$DATA_DIR/fault-postgres.log"
    as_pg "$bin/pg_ctl" -D "$pgdata" -l "$DATA_DIR/fault-postgres.log" -w -t 60 start >/dev/null \
      || die "the fault-injection PostgreSQL did not start; see $DATA_DIR/fault-postgres.log"
  fi
  export VERDICT_FAULT_PGDATA="$pgdata" VERDICT_FAULT_PGBIN="$bin"
  export VERDICT_FAULT_DATABASE_URL="postgres://postgres@localhost/postgres?host=$sockdir"
}

stop_restartable_postgres() {
  as_pg "$(pg_bin_dir)/pg_ctl" -D "$DATA_DIR/fault-postgres" -m fast -w stop >/dev/null 2>&1 || true
}

stop_private_postgres() {
  local bin
  bin="$(pg_bin_dir)"
  as_pg "$bin/pg_ctl" -D "$DATA_DIR/postgres" -m fast -w stop >/dev/null 2>&1 || true
}

# The URL of database $2 on the same server as URL $1.
database_url_for() {
  python3 - "$1" "$2" <<'PY'
import sys, urllib.parse as u
url, db = sys.argv[1], sys.argv[2]
p = u.urlsplit(url)
print(u.urlunsplit((p.scheme, p.netloc, "/" + db, p.query, p.fragment)))
PY
}

# Creates the database of URL $1 when its server lacks it.
ensure_database() {
  local url="$1" name admin
  name="$(python3 -c 'import sys, urllib.parse as u; print(u.urlsplit(sys.argv[1]).path.lstrip("/"))' "$url")"
  admin="$(database_url_for "$url" postgres)"
  if [ -z "$(psql "$admin" -tAq -c "select 1 from pg_database where datname = '$name'")" ]; then
    psql "$admin" -q -v ON_ERROR_STOP=1 -c "create database \"$name\""
  fi
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# A fresh database named $1 on DATABASE_URL's server, migrated by the release build (dropped
# first when it exists); prints its URL.
fresh_release_database() {
  local url
  url="$(database_url_for "$DATABASE_URL" "$1")"
  psql "$(database_url_for "$DATABASE_URL" postgres)" -q -v ON_ERROR_STOP=1 \
    -c "drop database if exists $1 with (force)" -c "create database $1"
  DATABASE_URL="$url" ./target/release/verdict migrate >/dev/null
  printf '%s\n' "$url"
}

# Starts the release server over database URL $1 on a free port, logging to $2 (RUST_LOG=warn),
# and waits until it answers /healthz. Sets SERVER_PID and SERVER_URL; the caller stops it.
start_release_server() {
  local port
  port="$(free_port)"
  DATABASE_URL="$1" LEPTOS_SITE_ADDR="127.0.0.1:$port" LEPTOS_SITE_ROOT=target/site \
    RUST_LOG=warn ./target/release/verdict serve >"$2" 2>&1 &
  SERVER_PID=$!
  SERVER_URL="http://127.0.0.1:$port"
  for _ in $(seq 1 200); do
    curl -sf "$SERVER_URL/healthz" >/dev/null 2>&1 && return 0
    kill -0 "$SERVER_PID" 2>/dev/null || die "the server did not start; see $2"
    sleep 0.1
  done
  die "the server did not answer /healthz within 20 s; see $2"
}

# Stops the server start_release_server started, if it runs.
stop_release_server() {
  if [ -n "${SERVER_PID:-}" ]; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
}
