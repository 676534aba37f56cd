#!/usr/bin/env bash
# Idempotent set-up of the OpenMMLab stack for cpwc_mmdet.
#
# Installs into the active virtualenv, or into ./.venv (created if missing):
# torch (TORCH_SPEC, default torch==2.13.0, skipped if torch>=2.1 imports),
# numpy<2, mmengine 0.10.7, pycocotools, mmcv 2.1.0 built from source with its
# ops (~23 min on 2 cores the first time; pip's wheel cache makes later
# installs take seconds), mmdet 3.3.0, and this project in editable mode
# (which compiles the fused CPWC CPU kernel, about a minute).
# torchvision is never installed. Prints the interpreter's path last.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}
CONSTRAINTS="$ROOT/requirements/constraints.txt"

if [ -n "${VIRTUAL_ENV:-}" ]; then
  PY="$VIRTUAL_ENV/bin/python"
else
  [ -x .venv/bin/python ] || python3 -m venv .venv
  PY="$ROOT/.venv/bin/python"
fi
pip_install() { "$PY" -m pip install -q --disable-pip-version-check "$@" 2>&1 \
  | grep -v "is ignored: it is neither" || true; }
# probes run outside the repo, so that `import cpwc_mmdet` only succeeds
# when the package is really installed (not found through the cwd)
has() { (cd / && "$PY" -c "$1") >/dev/null 2>&1; }

if ! has "import torch; assert tuple(map(int, torch.__version__.split('.')[:2])) >= (2, 1)"; then
  echo "[setup] installing $TORCH_SPEC"
  pip_install "$TORCH_SPEC"
fi
if ! has "import numpy, mmengine, pycocotools, pytest; assert numpy.__version__ < '2'"; then
  echo "[setup] installing numpy<2, mmengine, pycocotools, pytest"
  pip_install -c "$CONSTRAINTS" -r requirements/runtime.txt -r requirements/tests.txt
fi
if ! has "import mmcv, mmcv.ops; assert mmcv.__version__ == '2.1.0'"; then
  echo "[setup] building mmcv 2.1.0 with ops from source (first time ~23 min on 2 cores)"
  pip_install "setuptools<70" wheel ninja
  (cd /tmp && MMCV_WITH_OPS=1 pip_install --no-build-isolation -c "$CONSTRAINTS" mmcv==2.1.0)
  has "import mmcv.ops" || { echo "[setup] mmcv build failed" >&2; exit 1; }
fi
if ! has "import mmdet; assert mmdet.__version__ == '3.3.0'"; then
  echo "[setup] installing mmdet 3.3.0"
  pip_install -c "$CONSTRAINTS" mmdet==3.3.0
fi
# the fused CPWC kernel (C++, ~1 min) is built by this install; CPWC_NO_EXT=1
# skips it (CPWConv2d then runs on PyTorch alone)
KERNEL_PROBE="from cpwc_mmdet.ops import fused_context_available as ok; assert ok()"
[ "${CPWC_NO_EXT:-0}" = 1 ] && KERNEL_PROBE=pass
if ! has "import cpwc_mmdet, os; assert os.path.dirname(cpwc_mmdet.__file__).startswith('$ROOT')
$KERNEL_PROBE"; then
  echo "[setup] installing cpwc_mmdet (editable, compiling its CPU kernel)"
  pip_install --no-build-isolation --no-deps -e .
  has "$KERNEL_PROBE" || echo "[setup] warning: the fused CPWC kernel did" \
    "not build; CPWConv2d falls back to PyTorch (slower)" >&2
fi
if has "import torchvision"; then :; elif "$PY" -m pip show torchvision >/dev/null 2>&1; then
  echo "[setup] torchvision is installed but broken; uninstalling it" >&2
  "$PY" -m pip uninstall -y -q torchvision
fi
echo "$PY"
