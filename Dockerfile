# prove-emulator in a container:
#   docker build -t prove-emulator .
#   docker run --rm -p 127.0.0.1:7768:7768 prove-emulator
# (127.0.0.1: the control plane serves SMS codes and secrets; publish it to this machine only)
# Browsers and phones must reach the emulator at the origin put into authTokens and SMS links: with
# another host port or a proxy, set it, e.g. -e PROVE_EMULATOR_PUBLIC_URL=http://localhost:9000
# Podman/buildah: pass --format docker, or the image (OCI format) loses its HEALTHCHECK.
# BASE: any Debian-like image with python3 (3.11+), its venv module and useradd; CI cannot reach Docker
# Hub and builds on a debootstrap bookworm base instead (scripts/image-check.sh).
ARG BASE=python:3.11-slim
FROM ${BASE}

WORKDIR /app
COPY pyproject.toml README.md ./
COPY emulator ./emulator
COPY scenarios ./scenarios
# A venv: Debian's own python refuses a system-wide pip install (PEP 668); python:3.11-slim takes it too.
RUN python3 -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-cache-dir --disable-pip-version-check . \
    && useradd --create-home --uid 10001 emulator \
    && mkdir /state && chown emulator /state \
    && rm -rf /app
# /state: where a volume keeps the state across restarts, with PROVE_EMULATOR_STATE_DIR=/state (a new
# named volume takes the directory's owner, so the emulator's user can write it). Unset: in memory.

USER emulator
WORKDIR /home/emulator
ENV PATH=/opt/venv/bin:$PATH \
    PROVE_EMULATOR_HOST=0.0.0.0 \
    PROVE_EMULATOR_PORT=7768 \
    PYTHONUNBUFFERED=1
EXPOSE 7768

# No curl in the image: the health check uses Python's standard library.
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/__emulator/health' % os.environ.get('PROVE_EMULATOR_PORT', '7768'), timeout=2)"

CMD ["prove-emulator"]
