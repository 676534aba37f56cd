#!/usr/bin/env bash
# Distributed pretraining (mmpretrain) through torchrun and mmengine (nccl on
# GPUs, gloo on CPUs): tools/dist_pretrain.sh CONFIG NUM_PROCS
# [pretrain.py args...], e.g. --test CKPT to evaluate a checkpoint.
# Paths are the caller's (relative ones resolve from the current directory);
# the script's own location only finds tools/pretrain.py and the package.
set -euo pipefail
CONFIG=$1
GPUS=$2
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-127.0.0.1}
PYTHON=${PYTHON:-python}
REPO="$(cd "$(dirname "$0")/.." && pwd)"
PYTHONPATH="$REPO:${PYTHONPATH:-}" exec "$PYTHON" -m torch.distributed.run \
    --nnodes="$NNODES" --node_rank="$NODE_RANK" --master_addr="$MASTER_ADDR" \
    --nproc_per_node="$GPUS" --master_port="$PORT" \
    "$REPO/tools/pretrain.py" "$CONFIG" --launcher pytorch "${@:3}"
