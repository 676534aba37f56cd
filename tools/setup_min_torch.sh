#!/usr/bin/env bash
# The oldest torch the project supports (setup.py: torch >= 2.1), alone in
# ./.venv-min-torch, for tests/test_min_torch.py: the layer and kernel code
# runs there without any OpenMMLab package. Idempotent; prints the
# interpreter's path last. PyPI's torch 2.1.2 is a CUDA build: with its
# nvidia-* libraries it is about 4.7 GB and installs in about a minute here;
# it runs on the CPU.
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=${MIN_TORCH_VERSION:-2.1.2}
VENV=.venv-min-torch
PY="$(pwd)/$VENV/bin/python"
if ! (cd / && "$PY" -c "import torch, numpy; assert torch.__version__.startswith('$VERSION')") >/dev/null 2>&1; then
  echo "[setup] installing torch $VERSION into $VENV (the oldest supported torch)" >&2
  python3 -m venv "$VENV"
  # PIP_FIND_LINKS= : the registry's build (a local CPU file is 2.13 only)
  PIP_FIND_LINKS= "$PY" -m pip install -q --disable-pip-version-check \
    "torch==$VERSION" "numpy<2" 2>&1 | grep -v "is ignored: it is neither" >&2 || true
  (cd / && "$PY" -c "import torch; assert torch.__version__.startswith('$VERSION')") \
    || { echo "[setup] torch $VERSION does not import in $VENV" >&2; exit 1; }
fi
echo "$PY"
