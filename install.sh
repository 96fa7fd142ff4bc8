#!/usr/bin/env bash
# Installs mindseye into ./.venv (or $MINDSEYE_VENV) on a machine with Python 3.11.
#   ./install.sh                the tool
#   ./install.sh --dev          the tool plus pytest and ruff
#   ./install.sh --torch cuda   choose the PyTorch build: auto (the default), cpu or cuda
#                               (or set MINDSEYE_TORCH=auto|cpu|cuda)
#   ./install.sh --deps-only    everything but mindseye itself (what the Dockerfile caches first)
#   ./install.sh --no-photos    without fetching the `photos` background set (the render default;
#                               `mindseye dataset fetch-photos` fetches it later)
# auto picks the CPU build where no NVIDIA GPU is visible (a plain `pip install torch` would pull
# ~2.8 GB of CUDA libraries for nothing), the CUDA build otherwise. Choose explicitly where the
# machine that installs is not the one that runs: a `docker build` never sees a GPU.
set -euo pipefail
cd "$(dirname "$0")"

usage="usage: ./install.sh [--dev] [--torch auto|cpu|cuda] [--deps-only] [--no-photos]"
extras=""
deps_only=0
photos=1
torch_build="${MINDSEYE_TORCH:-auto}"
while (($#)); do
    case "$1" in
        --dev) extras="[dev]" ;;
        --deps-only) deps_only=1 ;;
        --no-photos) photos=0 ;;
        --torch) torch_build="${2:-}"; (($# > 1)) && shift ;;
        --torch=*) torch_build="${1#--torch=}" ;;
        -h | --help) echo "$usage"; exit 0 ;;
        *) echo "install.sh: unknown argument '$1'; $usage" >&2; exit 2 ;;
    esac
    shift
done
case "$torch_build" in
    auto | cpu | cuda) ;;
    *) echo "install.sh: --torch (or MINDSEYE_TORCH) is auto, cpu or cuda, not '$torch_build'" >&2
       exit 2 ;;
esac

venv="${MINDSEYE_VENV:-.venv}"
python="${PYTHON:-python3.11}"
command -v "$python" >/dev/null || python=python3
"$python" -c 'import sys; assert sys.version_info[:2] == (3, 11), sys.version' 2>/dev/null || {
    echo "install.sh: mindseye needs Python 3.11 (bpy is built for it); set PYTHON=/path/to/python3.11" >&2
    exit 2
}

# Blender's Python module loads a few X11/GL client libraries even when rendering headless.
bpy_libs=(libx11-6 libxrender1 libxfixes3 libxi6 libxkbcommon0 libsm6 libice6 libxext6 libgl1)
if command -v apt-get >/dev/null && [[ $(id -u) == 0 ]] && ! ldconfig -p | grep -q libXrender.so.1; then
    apt-get update -qq && apt-get install -y -qq --no-install-recommends "${bpy_libs[@]}" >/dev/null
fi

[[ -x "$venv/bin/python" ]] || "$python" -m venv "$venv"
pip="$venv/bin/python -m pip --quiet"

if [[ $torch_build == auto ]]; then
    torch_build=cpu
    command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1 && torch_build=cuda
fi
torch_version=2.13.0
if [[ $torch_build == cpu ]]; then
    # CPU build: a local wheel or index that pip is configured with, else PyTorch's CPU index.
    $pip install "torch==${torch_version}+cpu" 2>/dev/null \
        || $pip install "torch==${torch_version}+cpu" --extra-index-url https://download.pytorch.org/whl/cpu
else
    # CUDA build: PyPI's plain wheel. "===" refuses a local 2.13.0+cpu (installed, or a wheel pip
    # is configured with), which "==" would accept and even prefer.
    $pip install "torch===${torch_version}"
fi

if ((deps_only)); then
    # The dependencies as pyproject.toml lists them, without the package (whose source need
    # not be here yet), so that a Docker layer of them survives edits of the source.
    "$venv/bin/python" - "$extras" <<'EOF' | $pip install -r /dev/stdin
import sys, tomllib
project = tomllib.load(open("pyproject.toml", "rb"))["project"]
extras = project.get("optional-dependencies", {}).get("dev", []) if sys.argv[1] else []
print("\n".join(project["dependencies"] + extras))
EOF
    echo "installed the dependencies into $venv ($("$venv/bin/python" -c 'import torch; print("torch", torch.__version__)'))"
    exit 0
fi
$pip install -e ".${extras}"
# The default backgrounds: ~250 MB of Debian packages, once, checked against dataset/photos.csv.
# Without them the rest works; render says how to fetch them, or use --backgrounds builtin.
if ((photos)) && ! "$venv/bin/mindseye" dataset fetch-photos; then
    echo "install.sh: the photos background set was not fetched; run \`mindseye dataset" \
         "fetch-photos\` later, or render with --backgrounds builtin or folder:PATH" >&2
fi
echo "installed: $venv/bin/mindseye ($("$venv/bin/python" -c 'import torch; print("torch", torch.__version__)'))"
