#!/usr/bin/env bash
# Installs mindseye into ./.venv (or $MINDSEYE_VENV) on a machine with Python 3.11.
#   ./install.sh          the tool
#   ./install.sh --dev    the tool plus pytest and ruff
# Picks the PyTorch build by itself: the CPU build where no NVIDIA GPU is visible (a plain
# `pip install torch` would pull ~2.8 GB of CUDA libraries for nothing), the CUDA build otherwise.
set -euo pipefail
cd "$(dirname "$0")"

extras=""
[[ "${1:-}" == "--dev" ]] && extras="[dev]"
venv="${MINDSEYE_VENV:-.venv}"
python="${PYTHON:-python3.11}"
command -v "$python" >/dev/null || python=python3
"$python" -c 'import sys; assert sys.version_info[:2] == (3, 11), sys.version' 2>/dev/null || {
    echo "install.sh: mindseye needs Python 3.11 (bpy is built for it); set PYTHON=/path/to/python3.11" >&2
    exit 2
}

# Blender's Python module loads a few X11/GL client libraries even when rendering headless.
bpy_libs="libx11-6 libxrender1 libxfixes3 libxi6 libxkbcommon0 libsm6 libice6 libxext6 libgl1"
if command -v apt-get >/dev/null && [[ $(id -u) == 0 ]] && ! ldconfig -p | grep -q libXrender.so.1; then
    apt-get update -qq && apt-get install -y -qq --no-install-recommends $bpy_libs >/dev/null
fi

[[ -x "$venv/bin/python" ]] || "$python" -m venv "$venv"
pip="$venv/bin/python -m pip --quiet"

torch_version=2.13.0
if ! command -v nvidia-smi >/dev/null || ! nvidia-smi -L >/dev/null 2>&1; then
    # CPU build: a local wheel or index that pip is configured with, else PyTorch's CPU index.
    $pip install "torch==${torch_version}+cpu" 2>/dev/null \
        || $pip install "torch==${torch_version}+cpu" --extra-index-url https://download.pytorch.org/whl/cpu
fi
$pip install -e ".${extras}"
echo "installed: $venv/bin/mindseye ($("$venv/bin/python" -c 'import torch; print("torch", torch.__version__)'))"
