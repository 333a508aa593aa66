#!/bin/sh
# The image's entrypoint: runs `quire "$@"`, first turning Docker/Swarm/
# Kubernetes secret files into the settings Quire reads today.
#
# For each secret setting VAR below, when VAR_FILE names a file (such as
# /run/secrets/quire_secret_key), VAR is set to its content (a trailing
# newline dropped) and VAR_FILE removed. Setting both is an error, as is a
# file that cannot be read. Once Quire reads QUIRE_*_FILE itself this shim
# can go; until then it keeps secrets out of compose files and `docker
# inspect`.
set -eu

for var in QUIRE_DATABASE_URL QUIRE_SECRET_KEY QUIRE_SMTP_URL SENTRY_DSN \
           AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY; do
  eval "file=\${${var}_FILE:-}"
  [ -n "$file" ] || continue
  eval "already=\${${var}:-}"
  if [ -n "$already" ]; then
    echo "error: both $var and ${var}_FILE are set; keep one" >&2
    exit 64
  fi
  if [ ! -r "$file" ]; then
    echo "error: ${var}_FILE is $file, which is not a readable file" >&2
    exit 66
  fi
  value=$(cat "$file")
  export "$var=$value"
  unset "${var}_FILE"
done

exec quire "$@"
