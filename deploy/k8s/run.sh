#!/bin/bash
# Starts the shard Job, waits until every index has completed, then starts the merge Job:
#   deploy/k8s/run.sh [TIMEOUT]   (default 24h; 90s, 30m, 24h or plain seconds; kubectl's current namespace)
# A Job that fails (an index out of retries) ends the wait at once with exit 1: `kubectl wait
# --for=condition=complete` alone would wait the whole TIMEOUT for a completion that cannot come.
# POLL_SECONDS (default 15) is how often the Jobs' conditions are read.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
TIMEOUT=${1:-24h}
POLL=${POLL_SECONDS:-15}

seconds() {
  case $1 in
    *h) echo $((${1%h} * 3600)) ;;
    *m) echo $((${1%m} * 60)) ;;
    *s) echo "${1%s}" ;;
    *) echo "$1" ;;
  esac
}

# Waits until job/$1 is Complete (0) or Failed (1), or $2 seconds have passed (1).
wait_job() {
  local job=$1 deadline=$(($(date +%s) + $2)) conditions
  while :; do
    conditions=$(kubectl get "job/$job" \
      -o jsonpath='{range .status.conditions[?(@.status=="True")]}{.type}{" "}{end}')
    case " $conditions " in
      *" Complete "*) return 0 ;;
      *" Failed "*)
        echo "job/$job failed (kubectl describe job/$job; kubectl logs job/$job)" >&2
        return 1
        ;;
    esac
    if [ "$(date +%s)" -ge "$deadline" ]; then
      echo "job/$job did not finish within $TIMEOUT" >&2
      return 1
    fi
    sleep "$POLL"
  done
}

if ! [[ $(seconds "$TIMEOUT") =~ ^[0-9]+$ ]]; then
  echo "usage: $0 [TIMEOUT]  (e.g. 90s, 30m, 24h or seconds; got '$TIMEOUT')" >&2
  exit 2
fi
kubectl apply -f "$HERE/shard-job.yaml"
if ! wait_job protoscope-shard "$(seconds "$TIMEOUT")"; then
  echo "the shard Job did not complete; not merging" >&2
  exit 1
fi
kubectl apply -f "$HERE/merge-job.yaml"
wait_job protoscope-merge "$(seconds 2h)"
