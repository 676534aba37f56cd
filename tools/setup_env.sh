#!/usr/bin/env bash
# Idempotent set-up of the OpenMMLab stack for cpwc_mmdet.
#
# Installs into the active virtualenv, or into ./.venv (created if missing):
# torch + torchvision (TORCH_SPEC / TORCHVISION_SPEC, default the registry's
# build of torch 2.13.0 with torchvision 0.28.0, which run on CPUs too;
# kept when a torch >= 2.1 with a working torchvision is already there),
# numpy<2, mmengine 0.10.7, pycocotools, the test tools, mmcv 2.1.0 built from
# source with its ops (~10-23 min on 2 cores the first time; pip's wheel cache
# makes later installs take seconds; a cached wheel that does not import
# against this torch is rebuilt), mmdet 3.3.0, mmpretrain 1.2.0, and this
# project in editable mode (which compiles the fused CPWC CPU kernels, one
# per instruction set). Prints the interpreter's path last.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
# PyPI's torchvision imports only beside the registry's (CUDA) torch build,
# not beside a local CPU wheel: ask for that build explicitly
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0,!=2.13.0+cpu}
TORCHVISION_SPEC=${TORCHVISION_SPEC:-torchvision==0.28.0}
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

TORCH_OK="import torch; assert tuple(map(int, torch.__version__.split('.')[:2])) >= (2, 1)"
if ! has "$TORCH_OK; import torchvision"; then
  if has "$TORCH_OK; assert not torch.__version__.endswith('+cpu')"; then
    echo "[setup] torch $("$PY" -c 'import torch; print(torch.__version__)')" \
      "is installed but torchvision does not import: install the" \
      "torchvision that matches it, then run this again" >&2
    exit 1
  fi
  echo "[setup] installing $TORCH_SPEC and $TORCHVISION_SPEC"
  PIP_FIND_LINKS= pip_install "$TORCH_SPEC" "$TORCHVISION_SPEC"
  has "import torchvision" || { echo "[setup] torchvision does not import" >&2; exit 1; }
fi
if ! has "import numpy, mmengine, pycocotools, pytest, onnxruntime; assert numpy.__version__ < '2'"; then
  echo "[setup] installing numpy<2, mmengine, pycocotools and the test tools"
  pip_install -c "$CONSTRAINTS" -r requirements/runtime.txt -r requirements/tests.txt
fi
if ! has "import mmcv, mmcv.ops; assert mmcv.__version__ == '2.1.0'"; then
  echo "[setup] building mmcv 2.1.0 with ops from source (first time 10-23 min on 2 cores)"
  # mmcv 2.1.0's build needs setuptools < 70; torch wants >= 77 at run time,
  # and mmengine imports pkg_resources (a UserWarning from 80.9, gone in 81).
  # The pin is for the build only (undone below), so pip's red "ERROR: pip's
  # dependency resolver ..." about torch's requirement is not printed
  pip_install --no-warn-conflicts "setuptools<70" wheel ninja
  (cd /tmp && MMCV_WITH_OPS=1 pip_install --no-build-isolation -c "$CONSTRAINTS" mmcv==2.1.0)
  if ! has "import mmcv.ops"; then
    # pip's cache keys the wheel by mmcv's version, not by torch: a wheel
    # built against another torch is reused and fails to import
    echo "[setup] the cached mmcv wheel does not fit this torch: rebuilding"
    (cd /tmp && MMCV_WITH_OPS=1 pip_install --no-build-isolation --no-cache-dir \
      --force-reinstall --no-deps -c "$CONSTRAINTS" mmcv==2.1.0)
  fi
  has "import mmcv.ops" || { echo "[setup] mmcv build failed" >&2; exit 1; }
fi
has "import setuptools, pkg_resources; v = tuple(map(int, setuptools.__version__.split('.')[:2])); assert (77, 0) <= v < (80, 9)" \
  || pip_install "setuptools>=77,<80.9"
if ! has "import mmdet, mmpretrain; assert mmdet.__version__ == '3.3.0'"; then
  echo "[setup] installing mmdet 3.3.0 and mmpretrain 1.2.0"
  pip_install -c "$CONSTRAINTS" mmdet==3.3.0 mmpretrain==1.2.0
fi
# the fused CPWC kernels (C++, one module per instruction set) are built by
# this install; CPWC_NO_EXT=1 skips them (CPWConv2d then runs on PyTorch alone)
KERNEL_PROBE="from cpwc_mmdet.ops import cpu_kernels_available as ok; assert ok()"
[ "${CPWC_NO_EXT:-0}" = 1 ] && KERNEL_PROBE=pass
if ! has "import cpwc_mmdet, os; assert os.path.dirname(cpwc_mmdet.__file__).startswith('$ROOT')
$KERNEL_PROBE"; then
  echo "[setup] installing cpwc_mmdet (editable, compiling its CPU kernels)"
  # --use-pep517: without a pyproject.toml pip would run `setup.py develop`,
  # which setuptools >= 80 hands to an isolated pip build where torch (and
  # so the kernels) is missing
  pip_install --no-build-isolation --use-pep517 --no-deps -e .
  has "$KERNEL_PROBE" || echo "[setup] warning: the fused CPWC kernel did" \
    "not build; CPWConv2d falls back to PyTorch (slower)" >&2
fi
echo "$PY"
