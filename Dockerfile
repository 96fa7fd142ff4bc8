# mindseye in a container: `docker build -t mindseye .`, then
#   docker run --rm -v "$PWD/data:/data" mindseye render /data/demo --preset demo
# The install step is the README's own ./install.sh (it also apt-installs the X11/GL client
# libraries that bpy loads), so CI's run of install.sh proves this file's install too.
FROM python:3.11-slim
WORKDIR /opt/mindseye
COPY . .
RUN MINDSEYE_VENV=/opt/venv PYTHON=python3.11 ./install.sh && rm -rf /var/lib/apt/lists/* /root/.cache
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /data
ENTRYPOINT ["mindseye"]
CMD ["--help"]
