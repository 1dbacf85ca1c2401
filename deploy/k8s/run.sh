#!/bin/bash
# Starts the shard Job, waits until every index has completed, then starts the merge Job:
#   deploy/k8s/run.sh [TIMEOUT]   (default 24h; kubectl's current namespace)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
TIMEOUT=${1:-24h}
kubectl apply -f "$HERE/shard-job.yaml"
if ! kubectl wait --for=condition=complete job/protoscope-shard --timeout="$TIMEOUT"; then
  echo "the shard Job did not complete; not merging (kubectl describe job/protoscope-shard)" >&2
  exit 1
fi
kubectl apply -f "$HERE/merge-job.yaml"
kubectl wait --for=condition=complete job/protoscope-merge --timeout=2h
