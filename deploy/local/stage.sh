#!/usr/bin/env bash
# A local approximation of the production stage, all on loopback:
# PostgreSQL (a fresh database on the server at 127.0.0.1:5432), an S3
# server (moto) for backups, an SMTP sink (aiosmtpd), two web replicas
# (`quire serve --no-worker`), one `quire worker`, and nginx in front using
# the shipped deploy/nginx/quire-locations.conf.
#
#   deploy/local/stage.sh up       start everything; prints the site's URL
#   deploy/local/stage.sh roll     deploy a new release without dropping a request
#   deploy/local/stage.sh status   what runs where
#   deploy/local/stage.sh down     stop everything, drop the database
#
# `roll` is the deploy sequence of docs/operations.md, done by hand: copy the
# new binary into a new release folder, run its `quire migrate up`, then for
# each web replica: start the new one on a fresh port, wait for its /readyz,
# take the old one out of nginx (reload), SIGTERM it and check it exits 0;
# then start the new worker before SIGTERMing the old one, which finishes
# the jobs it is running.
#
# Settings (environment):
#   QUIRE_STAGE_DIR      state, logs and releases   (default: $TMPDIR/quire-stage)
#   QUIRE_STAGE_BIN      the binary `up` runs       (default: $CARGO_TARGET_DIR/release/quire)
#   QUIRE_STAGE_NEW_BIN  the binary `roll` deploys  (default: QUIRE_STAGE_BIN)
#   QUIRE_STAGE_PORT     nginx's port; the others follow it (default: 18480)
#   QUIRE_STAGE_POSTGRES admin URL of the PostgreSQL server (default: postgres://postgres@127.0.0.1:5432/postgres)
#   QUIRE_TEST_PYTHON    a Python with moto and aiosmtpd (default: ~/.cache/quire-tools/bin/python)
set -euo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
dir="${QUIRE_STAGE_DIR:-${TMPDIR:-/tmp}/quire-stage}"
target="${CARGO_TARGET_DIR:-$HOME/.cache/quire-target}"
bin="${QUIRE_STAGE_BIN:-$target/release/quire}"
port="${QUIRE_STAGE_PORT:-18480}"
pg_admin="${QUIRE_STAGE_POSTGRES:-postgres://postgres@127.0.0.1:5432/postgres}"
python="${QUIRE_TEST_PYTHON:-$HOME/.cache/quire-tools/bin/python}"
nginx_bin="${QUIRE_STAGE_NGINX:-/usr/sbin/nginx}"

say() { printf '==> stage: %s\n' "$*" >&2; }
die() { printf 'error: stage: %s\n' "$*" >&2; exit 1; }

# Waits up to $2 seconds for $1 to answer 200.
wait_http() {
  local url=$1 seconds=${2:-30}
  for _ in $(seq 1 $((seconds * 10))); do
    if [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$url")" = 200 ]; then return 0; fi
    sleep 0.1
  done
  return 1
}

# Starts a detached process NAME running ARGS; its pid goes to proc/NAME.pid
# and, when it ends, its exit status to proc/NAME.rc (the shell in between
# only waits, so signals go straight to the program).
start() {
  local name=$1; shift
  rm -f "$dir/proc/$name.rc"
  setsid bash -c '"$@" & echo $! >"'"$dir/proc/$name.pid"'"; wait $!; echo $? >"'"$dir/proc/$name.rc"'"' \
    _ "$@" >>"$dir/logs/$name.log" 2>&1 </dev/null &
  for _ in $(seq 1 50); do [ -s "$dir/proc/$name.pid" ] && return 0; sleep 0.1; done
  die "$name did not start (see $dir/logs/$name.log)"
}

pid_of() { cat "$dir/proc/$1.pid"; }
alive() { [ -s "$dir/proc/$1.pid" ] && [ ! -e "$dir/proc/$1.rc" ] && kill -0 "$(pid_of "$1")" 2>/dev/null; }

# SIGTERMs NAME and waits (up to $2 s) for it to end; fails unless it exits 0.
stop() {
  local name=$1 seconds=${2:-60}
  alive "$name" || return 0
  kill -TERM "$(pid_of "$name")"
  for _ in $(seq 1 $((seconds * 10))); do [ -e "$dir/proc/$name.rc" ] && break; sleep 0.1; done
  [ -e "$dir/proc/$name.rc" ] || { kill -KILL "$(pid_of "$name")" 2>/dev/null || true; die "$name did not stop within ${seconds}s"; }
  local rc; rc=$(cat "$dir/proc/$name.rc")
  [ "$rc" = 0 ] || die "$name exited with status $rc (see $dir/logs/$name.log)"
}

# Runs RELEASE's quire with the settings every process of the stage shares.
quire() { local release=$1; shift; "$dir/releases/$release/run" "$@"; }

# The running web replicas, one "NAME PORT" per line.
replicas() { cat "$dir/replicas"; }

write_nginx_conf() {
  local upstreams="" name rport
  while read -r name rport; do
    upstreams+="    server 127.0.0.1:$rport max_fails=1 fail_timeout=2s; # $name"$'\n'
  done < <(replicas)
  cat >"$dir/nginx/nginx.conf" <<EOF
# Written by deploy/local/stage.sh from the running replicas.
daemon off;
$([ "$(id -u)" = 0 ] && echo "user root;  # the temp and cache folders are root's")
worker_processes 1;
pid $dir/nginx/nginx.pid;
error_log $dir/logs/nginx-error.log warn;
events { worker_connections 1024; }
http {
    access_log $dir/logs/nginx-access.log;
    client_body_temp_path $dir/nginx/body;
    proxy_temp_path $dir/nginx/proxy;
    fastcgi_temp_path $dir/nginx/fastcgi;
    uwsgi_temp_path $dir/nginx/uwsgi;
    scgi_temp_path $dir/nginx/scgi;
    proxy_cache_path $dir/nginx/cache keys_zone=quire_static:1m max_size=16m;
    upstream quire {
$upstreams        keepalive 16;
        keepalive_timeout 20s;
    }
    server {
        listen 127.0.0.1:$port;
        include $root/deploy/nginx/quire-locations.conf;
    }
}
EOF
}

nginx_ctl() { "$nginx_bin" -p "$dir/nginx" -c "$dir/nginx/nginx.conf" -e "$dir/logs/nginx-error.log" "$@"; }

# Starts a web replica of RELEASE on the next free port; prints "NAME PORT".
start_replica() {
  local release=$1 n rport
  n=$(( $(cat "$dir/next") )); echo $((n + 1)) >"$dir/next"
  rport=$((port + n))
  start "web-$n" env QUIRE_BIND="127.0.0.1:$rport" "$dir/releases/$release/run" serve --no-worker
  wait_http "http://127.0.0.1:$rport/readyz" 60 || die "web-$n (release $release) never became ready (see $dir/logs/web-$n.log)"
  echo "web-$n $rport"
}

new_release() {
  local n from=$1
  n=$(( $(find "$dir/releases" -mindepth 1 -maxdepth 1 | wc -l) + 1 ))
  mkdir -p "$dir/releases/$n"
  cp "$from" "$dir/releases/$n/quire"
  # The launcher reads the shared settings, then becomes quire (exec), so
  # the pid recorded by start() is quire's own and signals reach it.
  cat >"$dir/releases/$n/run" <<EOF
#!/usr/bin/env bash
set -a; . "$dir/quire.env"; set +a
exec "$dir/releases/$n/quire" "\$@"
EOF
  chmod +x "$dir/releases/$n/run"
  echo "$n"
}

up() {
  [ -x "$bin" ] || die "no binary at $bin: build it (cargo build --release) or set QUIRE_STAGE_BIN"
  [ -x "$nginx_bin" ] || die "nginx is missing (Debian: apt-get install nginx-light)"
  "$python" -c "import moto.server, aiosmtpd" 2>/dev/null || die "$python lacks moto and aiosmtpd (scripts/test installs them)"
  command -v psql >/dev/null || die "psql is missing (Debian: apt-get install postgresql-client)"
  [ ! -e "$dir/proc" ] || die "a stage already runs in $dir: run '$0 down' first"
  rm -rf "$dir/logs"
  mkdir -p "$dir"/{proc,logs,releases,mail,data,nginx}
  echo 1 >"$dir/next"

  local db; db="quire_stage_$(date +%s)_$$"
  psql -q "$pg_admin" -c "CREATE DATABASE $db" >/dev/null || die "cannot create database $db on $pg_admin"
  echo "$db" >"$dir/database"
  local db_url="${pg_admin%/*}/$db"

  say "S3 (moto) on 127.0.0.1:$((port + 40)), SMTP sink on 127.0.0.1:$((port + 41))"
  start s3 "$python" "$root/tests/support/s3_server.py" $((port + 40)) quire-stage
  start smtp "$python" "$root/tests/support/smtp_sink.py" $((port + 41)) "$dir/mail"
  for _ in $(seq 1 100); do grep -q ready "$dir/logs/s3.log" && grep -q ready "$dir/logs/smtp.log" && break; sleep 0.1; done
  grep -q ready "$dir/logs/s3.log" || die "the S3 server did not start (see $dir/logs/s3.log)"
  grep -q ready "$dir/logs/smtp.log" || die "the SMTP sink did not start (see $dir/logs/smtp.log)"

  # Values single-quoted: the launcher sources this file with bash.
  cat >"$dir/quire.env" <<EOF
QUIRE_DATABASE_URL='$db_url'
QUIRE_SECRET_KEY='$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')'
QUIRE_PUBLIC_URL='http://127.0.0.1:$port/'
QUIRE_TRUSTED_PROXIES='127.0.0.1'
# The load's clients all come from 127.0.0.1 and register an account every
# half second, beyond one address's budget.
QUIRE_RATE_LIMITS='off'
QUIRE_DATA_DIR='$dir/data'
QUIRE_REPLICAS='2'
QUIRE_WORKER='off'
QUIRE_SHUTDOWN_DRAIN='1s'
QUIRE_SHUTDOWN_TIMEOUT='30s'
QUIRE_WORKER_SHUTDOWN_TIMEOUT='30s'
QUIRE_SMTP_URL='smtp://127.0.0.1:$((port + 41))?tls=none'
QUIRE_MAIL_FROM='Quire stage <stage@quire.localhost>'
QUIRE_BACKUP_DEST='s3://quire-stage/backups'
AWS_ACCESS_KEY_ID='test'
AWS_SECRET_ACCESS_KEY='test'
AWS_REGION='us-east-1'
AWS_ENDPOINT_URL='http://127.0.0.1:$((port + 40))'
QUIRE_LOG_FORMAT='json'
RUST_LOG='info,sqlx=warn,tower_sessions=warn'
EOF
  chmod 600 "$dir/quire.env"

  local release; release=$(new_release "$bin")
  say "release $release: migrate up"
  quire "$release" migrate up >>"$dir/logs/migrate.log" 2>&1 || die "migrate up failed (see $dir/logs/migrate.log)"
  : >"$dir/replicas"
  start_replica "$release" >>"$dir/replicas"
  start_replica "$release" >>"$dir/replicas"
  start worker "$dir/releases/$release/run" worker
  echo "worker" >"$dir/worker"

  write_nginx_conf
  nginx_ctl -t -q || die "nginx refuses the configuration $dir/nginx/nginx.conf"
  start nginx "$nginx_bin" -p "$dir/nginx" -c "$dir/nginx/nginx.conf" -e "$dir/logs/nginx-error.log"
  wait_http "http://127.0.0.1:$port/healthz" 30 || die "nginx does not answer on 127.0.0.1:$port"
  say "up: http://127.0.0.1:$port/ (release $release, replicas $(replicas | cut -d' ' -f1 | paste -sd,), database $db)"
}

roll() {
  [ -e "$dir/proc" ] || die "no stage runs in $dir: run '$0 up' first"
  local release; release=$(new_release "${QUIRE_STAGE_NEW_BIN:-$bin}")
  say "release $release: migrate up (the old release keeps serving)"
  quire "$release" migrate up >>"$dir/logs/migrate.log" 2>&1 || die "migrate up failed (see $dir/logs/migrate.log)"

  local old new name rport
  while read -r name rport; do
    new=$(start_replica "$release")
    old="$name $rport"
    # Swap the old replica for the new one in nginx; a reload lets the old
    # nginx workers finish what they were sending to the old replica.
    replicas | sed "s/^$old\$/$new/" >"$dir/replicas.next" && mv "$dir/replicas.next" "$dir/replicas"
    write_nginx_conf
    nginx_ctl -t -q || die "nginx refuses the new configuration"
    nginx_ctl -s reload
    sleep 1
    say "replaced $name (:$rport) with ${new% *} (:${new#* }); stopping $name"
    stop "$name" 60
  done < <(replicas)

  local old_worker new_worker
  old_worker=$(cat "$dir/worker")
  new_worker="worker-r$release"
  start "$new_worker" "$dir/releases/$release/run" worker
  echo "$new_worker" >"$dir/worker"
  sleep 0.5
  say "started $new_worker; stopping $old_worker (pid $(pid_of "$old_worker")), which finishes its running jobs"
  stop "$old_worker" 60
  say "rolled to release $release: $(replicas | cut -d' ' -f1 | paste -sd,) and $new_worker"
}

status() {
  [ -e "$dir/proc" ] || { echo "no stage in $dir"; return 0; }
  echo "site:     http://127.0.0.1:$port/"
  echo "database: $(cat "$dir/database")"
  for f in "$dir"/proc/*.pid; do
    local name; name=$(basename "$f" .pid)
    if alive "$name"; then echo "$name: pid $(pid_of "$name")"; else echo "$name: ended ($(cat "$dir/proc/$name.rc" 2>/dev/null || echo '?'))"; fi
  done
}

down() {
  [ -e "$dir/proc" ] || { say "nothing runs in $dir"; return 0; }
  local name
  # The proxy first, then the web and worker processes, then the services.
  for f in "$dir"/proc/nginx.pid "$dir"/proc/web-*.pid "$dir"/proc/worker*.pid "$dir"/proc/s3.pid "$dir"/proc/smtp.pid; do
    [ -e "$f" ] || continue
    name=$(basename "$f" .pid)
    if alive "$name"; then
      kill -TERM "$(pid_of "$name")" 2>/dev/null || true
    fi
  done
  for f in "$dir"/proc/*.pid; do
    name=$(basename "$f" .pid)
    for _ in $(seq 1 100); do alive "$name" || break; sleep 0.1; done
    if alive "$name"; then kill -KILL "$(pid_of "$name")" 2>/dev/null || true; fi
  done
  if [ -s "$dir/database" ]; then
    psql -q "$pg_admin" -c "DROP DATABASE IF EXISTS $(cat "$dir/database") WITH (FORCE)" >/dev/null ||
      say "could not drop database $(cat "$dir/database")"
  fi
  # Keep the logs for a look afterwards; the rest goes.
  rm -rf "$dir"/{proc,releases,data,nginx,mail,replicas,worker,next,database,quire.env}
  say "down (logs kept in $dir/logs)"
}

case "${1:-}" in
  up) up ;;
  roll) roll ;;
  status) status ;;
  down) down ;;
  *) echo "usage: $0 up|roll|status|down" >&2; exit 2 ;;
esac
