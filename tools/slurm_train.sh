#!/usr/bin/env bash
# Training on a Slurm cluster: srun starts one task per GPU and mmengine
# reads each task's rank from Slurm (--launcher slurm).
#
#   [GPUS=8] [GPUS_PER_NODE=8] [CPUS_PER_TASK=5] [SRUN_ARGS="..."] \
#     tools/slurm_train.sh PARTITION JOB_NAME CONFIG WORK_DIR [train.py args]
#
# GPUS: tasks in all; GPUS_PER_NODE: tasks (and GPUs asked) per node,
# default min(GPUS, 8); SRUN_ARGS: more srun options, split on spaces
# (e.g. "--time=24:00:00 --quotatype=auto"); PYTHON: the interpreter.
# Paths are the caller's (relative ones resolve from the current directory);
# the script's own location only finds tools/*.py and the package.
set -euo pipefail
if [ $# -lt 4 ]; then
  echo "usage: $0 PARTITION JOB_NAME CONFIG WORK_DIR [train.py args...]" >&2
  exit 2
fi
PARTITION=$1
JOB_NAME=$2
CONFIG=$3
WORK_DIR=$4
GPUS=${GPUS:-8}
GPUS_PER_NODE=${GPUS_PER_NODE:-$((GPUS < 8 ? GPUS : 8))}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
SRUN_ARGS=${SRUN_ARGS:-}
PYTHON=${PYTHON:-python}
REPO="$(cd "$(dirname "$0")/.." && pwd)"
# SRUN_ARGS is split on purpose: it holds several options
# shellcheck disable=SC2086
PYTHONPATH="$REPO:${PYTHONPATH:-}" exec srun -p "$PARTITION" \
    --job-name="$JOB_NAME" \
    --gres=gpu:"$GPUS_PER_NODE" \
    --ntasks="$GPUS" \
    --ntasks-per-node="$GPUS_PER_NODE" \
    --cpus-per-task="$CPUS_PER_TASK" \
    --kill-on-bad-exit=1 \
    $SRUN_ARGS \
    "$PYTHON" -u "$REPO/tools/train.py" "$CONFIG" --work-dir="$WORK_DIR" \
    --launcher slurm "${@:5}"
