#!/bin/sh
# The DaemonSet's command: runs the daemon for the provider given as the first argument, else for
# CLOUD_PROVIDER (from the ConfigMap peer-pods-cm); other arguments are passed on as flags.
# Unlike upstream's script it checks no keys itself: the daemon names every missing required key and exits 2.
set -eu

provider="${1:-${CLOUD_PROVIDER:-}}"
if [ -z "$provider" ]; then
  echo "entrypoint.sh: no provider: pass it as the first argument or set CLOUD_PROVIDER" >&2
  exit 2
fi
[ "$#" -gt 0 ] && shift

exec cloud-api-adaptor "$provider" "$@"
