# mindseye in a container (docs/docker.md). Build, then run with one folder mounted at /data:
#   docker build -t mindseye .                           # CPU PyTorch
#   docker build -t mindseye-cuda --build-arg TORCH=cuda .   # CUDA PyTorch; run with --gpus all
#   docker run --rm -v "$PWD/work:/data" mindseye assets add teapot /data/teapot.glb
#   docker run --rm -v "$PWD/work:/data" mindseye render /data/ds --classes monkey,teapot --preset demo
# The install step is the README's own ./install.sh (it also apt-installs the X11/GL client
# libraries that bpy loads), so CI's run of install.sh proves this file's install too.

# Any Debian-like image with python3.11 and its venv module (python3.11-venv on Debian).
ARG BASE=python:3.11-slim
FROM ${BASE}

# The PyTorch build: cpu (default) or cuda. install.sh's own choice (auto) would always be cpu
# here, since `docker build` sees no GPU.
ARG TORCH=cpu

WORKDIR /opt/mindseye
# Dependencies first (torch, bpy, scipy...: minutes, ~2 GB) in a layer that only a change of
# pyproject.toml or install.sh rebuilds; then the source, which edits change.
COPY pyproject.toml install.sh ./
RUN MINDSEYE_VENV=/opt/venv PYTHON=python3.11 PIP_NO_CACHE_DIR=1 \
        ./install.sh --torch "$TORCH" --deps-only \
    && rm -rf /var/lib/apt/lists/*
COPY . .
# install.sh fetches the photos background set (the render default) into the image.
ENV MINDSEYE_PHOTOS=/opt/mindseye-photos/photos-v1.h5
RUN MINDSEYE_VENV=/opt/venv PYTHON=python3.11 PIP_NO_CACHE_DIR=1 ./install.sh --torch "$TORCH"

# Everything a user keeps lives under the mounted /data: datasets, runs, and the classes that
# `mindseye assets add` registers (in /data/assets; the built-in ones stay in the image).
ENV PATH=/opt/venv/bin:$PATH \
    MINDSEYE_ASSETS=/data/assets
WORKDIR /data
ENTRYPOINT ["mindseye"]
CMD ["--help"]
