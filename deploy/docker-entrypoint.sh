#!/bin/sh
# The image's entrypoint: runs `quire "$@"`, first turning the AWS keys'
# secret files into the variables object_store reads. (Quire reads
# QUIRE_DATABASE_URL_FILE, QUIRE_SECRET_KEY_FILE, QUIRE_SMTP_URL_FILE and
# SENTRY_DSN_FILE itself; the AWS SDK conventions have no _FILE form.)
#
# For each VAR below, when VAR_FILE names a file (such as
# /run/secrets/aws_secret_access_key), VAR is set to its content (a
# trailing newline dropped) and VAR_FILE removed. Setting both is an
# error, as is a file that cannot be read. It keeps secrets out of compose
# files and `docker inspect`.
set -eu

for var in AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY; do
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
