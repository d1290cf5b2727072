# syntax=docker/dockerfile:1
# The inferop operator image: `inferop run` (kopf) as a non-root user on a pinned Python base.
#
#   docker build -t ghcr.io/inferop/inferop:0.1.0 .      # the chart's default image (appVersion)
#
# Base: python:3.11.14-slim-bookworm, pinned by digest. The digest was taken from public repositories
# that pin the same tag (it could not be checked against Docker Hub from the machine this was written
# on); refresh tag and digest together, e.g. `docker buildx imagetools inspect python:3.11-slim-bookworm`.
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm@sha256:65a93d69fa75478d554f4ad27c85c1e69fa184956261b4301ebaf6dbb0a3543d

# --- build: install the package and its dependencies into a virtualenv -------------------------------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/inferop
WORKDIR /src
# Only what `pip install .` needs (see .dockerignore): metadata first, then the package. The simulator's
# compiled event loop (simcore/, Rust) is not part of the operator image; `inferop simulate` says so.
COPY pyproject.toml README.md ./
COPY operator ./operator
RUN /opt/inferop/bin/pip install . \
 && /opt/inferop/bin/inferop --help >/dev/null

# --- runtime -------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="inferop" \
      org.opencontainers.image.description="Kubernetes operator for AI inference services at the lowest cost that meets their SLO" \
      org.opencontainers.image.source="https://github.com/inferop/inferop" \
      org.opencontainers.image.licenses="Apache-2.0"
# A numeric, non-root user: the chart's securityContext (runAsNonRoot, runAsUser 1000) matches it.
RUN groupadd --gid 1000 inferop \
 && useradd --uid 1000 --gid 1000 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin inferop
COPY --from=build /opt/inferop /opt/inferop
# HOME=/tmp: the chart mounts an emptyDir there, the only writable path on a read-only root filesystem.
ENV PATH=/opt/inferop/bin:$PATH \
    HOME=/tmp \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
USER 1000:1000
# 8080: /metrics (INFEROP_METRICS_PORT), 8081: kopf's liveness endpoint.
EXPOSE 8080 8081
ENTRYPOINT ["inferop"]
CMD ["run", "--all-namespaces", "--liveness", "http://0.0.0.0:8081/healthz"]
