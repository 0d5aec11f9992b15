# The streamdrift worker image (docker-compose.yml: the worker and the one-shot topics job; the Helm chart
# deploy/helm/streamdrift: data plane and control plane). Checked without Docker by hadolint (bin/test) and
# tests/unit/dev/test_dockerfile.py: multi-stage, native extension built in the builder, non-root, no compiler.

# Build stage: the wheel, with the native capture-record reader (native/, Rust) compiled by maturin.
FROM python:3.11-slim AS build
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends curl ca-certificates gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/* \
    && curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
ENV PATH=/root/.cargo/bin:$PATH \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY native ./native
COPY schemas ./schemas
COPY src ./src
RUN pip wheel --no-deps --wheel-dir /wheels .

# Runtime stage: Python and the wheel; no compiler, no Rust toolchain, no build tree.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
COPY --from=build /wheels /wheels
RUN pip install /wheels/*.whl \
    && rm -rf /wheels \
    && groupadd --gid 10001 streamdrift \
    && useradd --create-home --uid 10001 --gid 10001 streamdrift

# numeric, so Kubernetes' runAsNonRoot can verify it
USER 10001:10001
WORKDIR /home/streamdrift
# The worker binds 127.0.0.1 by default; in a container that is the container's own loopback, so Prometheus,
# published ports and probes reach it only on every interface. /status and /report: set
# STREAMDRIFT_WEB_AUTH_TOKEN when the port is reachable beyond a private network (docs/security.md).
ENV STREAMDRIFT_WEB_HOST=0.0.0.0
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=3)"]
CMD ["streamdrift", "run", "--bootstrap", "kafka:9092", "--web-port", "8000"]
