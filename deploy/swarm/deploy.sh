#!/usr/bin/env bash
# Deploys Quire to a Docker Swarm, in the order docs/operations.md gives:
#
#   1. run the new image's `quire migrate up` as a one-shot task (the old
#      version keeps serving: migrations within a release are additive);
#   2. `docker stack deploy`: web replicas roll one at a time, start-first,
#      and roll back by themselves if a new one fails its health check;
#   3. wait until every service has converged (or rolled back: exit 1).
#
# Usage: deploy/swarm/deploy.sh IMAGE@sha256:DIGEST
# Run on a manager node, or with DOCKER_HOST/DOCKER_CONTEXT pointing at one.
# Environment: QUIRE_STACK (default quire), QUIRE_ENV_FILE (default prod.env,
# next to stack.yml), QUIRE_DEPLOY_TIMEOUT seconds (default 600),
# QUIRE_SMOKE_URL (optional: its /readyz must answer 200 at the end).
set -euo pipefail
cd "$(dirname "$0")"

say() { printf '==> deploy: %s\n' "$*" >&2; }
die() { printf 'error: deploy: %s\n' "$*" >&2; exit 1; }

image=${1:-}
[[ "$image" == *@sha256:* ]] || die "usage: $0 IMAGE@sha256:DIGEST (deploy by digest, so every node runs the same build)"
stack=${QUIRE_STACK:-quire}
timeout=${QUIRE_DEPLOY_TIMEOUT:-600}
export QUIRE_IMAGE=$image QUIRE_ENV_FILE=${QUIRE_ENV_FILE:-prod.env}
[ -r "$QUIRE_ENV_FILE" ] || die "$QUIRE_ENV_FILE (the non-secret settings) is missing next to stack.yml"
docker node ls >/dev/null 2>&1 || die "not talking to a Swarm manager (docker node ls fails)"

deploy_stack() { docker stack deploy --with-registry-auth --prune --detach=true -c stack.yml "$stack" >&2; }

# Waits for a migrate task that did not exist before ($1: the task ids
# there were) to finish; fails unless it completed.
wait_for_migration() {
  local before=$1 id state
  for _ in $(seq 1 "$timeout"); do
    while read -r id state; do
      grep -qx "$id" <<<"$before" && continue
      case "$state" in
        Complete*) return 0 ;;
        Failed*|Rejected*) docker service logs --tail 50 "${stack}_migrate" >&2 || true
                           die "the migration failed ($state): nothing else was changed" ;;
      esac
    done < <(docker service ps "${stack}_migrate" --no-trunc --format '{{.ID}} {{.CurrentState}}' 2>/dev/null)
    sleep 1
  done
  die "the migration did not finish within ${timeout}s"
}

say "1/3 migrate with $image"
tasks_before=$(docker service ps "${stack}_migrate" --no-trunc -q 2>/dev/null || true)
if docker service inspect "${stack}_migrate" >/dev/null 2>&1; then
  docker service update --detach --quiet --image "$image" --replicas 1 --force "${stack}_migrate" >/dev/null
else
  # First deploy: only the migration runs, web and worker start after it.
  QUIRE_WEB_REPLICAS=0 QUIRE_WORKER_REPLICAS=0 QUIRE_MIGRATE_REPLICAS=1 deploy_stack
fi
wait_for_migration "$tasks_before"
docker service scale --detach "${stack}_migrate=0" >/dev/null

say "2/3 docker stack deploy $stack"
deploy_stack

say "3/3 waiting for web and worker to converge (at most ${timeout}s)"
converged() {
  local service=$1 update replicas
  update=$(docker service inspect "${stack}_$service" --format '{{if .UpdateStatus}}{{.UpdateStatus.State}}{{end}}')
  case "$update" in
    rollback_*|paused) die "$service: update $update — Swarm rolled back or paused; see docker service ps ${stack}_$service" ;;
    updating) return 1 ;;
  esac
  replicas=$(docker service ls --filter "name=${stack}_$service" --format '{{.Replicas}}' | head -n 1)
  [ "${replicas%% *}" = "$(echo "${replicas%% *}" | awk -F/ '{print $2"/"$2}')" ]
}
for _ in $(seq 1 "$timeout"); do
  if converged web && converged worker; then
    say "converged: web $(docker service ls --filter "name=${stack}_web" --format '{{.Replicas}}'), image $image"
    if [ -n "${QUIRE_SMOKE_URL:-}" ]; then
      curl -fsS --max-time 10 "${QUIRE_SMOKE_URL%/}/readyz" >/dev/null || die "$QUIRE_SMOKE_URL/readyz does not answer 200"
      say "smoke test: ${QUIRE_SMOKE_URL%/}/readyz answers 200"
    fi
    exit 0
  fi
  sleep 1
done
die "not converged within ${timeout}s: docker service ps ${stack}_web"
