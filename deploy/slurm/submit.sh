#!/bin/bash
# Runs a protoscope task as N shards on N GPUs (a Slurm job array) and merges them when all succeed:
#   deploy/slurm/submit.sh N RUN_DIR TASK [task flags, without --out and --shard]
# e.g. deploy/slurm/submit.sh 8 /scratch/run1 concepts --model resnet50.onnx --data /data/val --layer layer4.2
# The shards write RUN_DIR/shard-1..N, the merge RUN_DIR/merged (what one run would have written).
# Extra sbatch options (partition, account) go in SBATCH_ARGS, e.g. SBATCH_ARGS="--partition=gpu".
set -euo pipefail

if [ $# -lt 3 ] || ! [[ $1 =~ ^[1-9][0-9]*$ ]]; then
  echo "usage: $0 N RUN_DIR TASK [task flags]  (N: number of shards, >= 1)" >&2
  exit 2
fi
N=$1
RUN_DIR=$2
shift 2
HERE=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$RUN_DIR"
# shellcheck disable=SC2086 # SBATCH_ARGS is a list of options
ARRAY=$(sbatch --parsable ${SBATCH_ARGS:-} --array="1-$N" "$HERE/shard.sbatch" "$RUN_DIR" "$@")
ARRAY=${ARRAY%%;*}
# shellcheck disable=SC2086
MERGE=$(sbatch --parsable ${SBATCH_ARGS:-} --dependency="afterok:$ARRAY" "$HERE/merge.sbatch" "$RUN_DIR" "$N")
echo "shards: job array $ARRAY (1-$N); merge: job ${MERGE%%;*} after all succeed -> $RUN_DIR/merged"
