# The deploystatus API. Build: docker build -t deploystatus .
# Run: docker run -p 8080:8080 -e DEPLOYSTATUS_TABLE=... -e AWS_REGION=... deploystatus
# (AWS credentials come from botocore's provider chain: see "Running in production" in README.md)

FROM python:3.11-slim AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore \
    PYTHONDONTWRITEBYTECODE=1

RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /build
# README.md is the package's long description: the build needs it.
COPY pyproject.toml README.md requirements.lock ./
COPY src ./src
# The runtime set only (not the dev tools of requirements-dev.lock), every file checked
# against its hash in requirements.lock; setuptools, pinned there too, builds deploystatus
# itself, which brings no dependency the lock has not installed.
RUN pip install --require-hashes -r requirements.lock
RUN pip install --no-deps --no-build-isolation .


FROM python:3.11-slim

# The image refuses to start without DEPLOYSTATUS_TOKENS: a container reached by a network
# must not serve unauthenticated writes by default (DEPLOYSTATUS_REQUIRE_AUTH=false opts out).
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DEPLOYSTATUS_REQUIRE_AUTH=true

RUN groupadd --system --gid 10001 deploystatus \
    && useradd --system --uid 10001 --gid deploystatus --create-home \
        --home-dir /home/deploystatus --shell /usr/sbin/nologin deploystatus

COPY --from=builder /opt/venv /opt/venv

# Numeric, so that Kubernetes' runAsNonRoot can verify it.
USER 10001:10001
WORKDIR /home/deploystatus

EXPOSE 8080

# Liveness only (the process serves HTTP); /readyz, which checks the table, is for a
# load balancer or a readiness probe. The slim image has no curl: python's urllib it is.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4)"]

CMD ["deploystatus", "serve", "--host", "0.0.0.0", "--port", "8080"]
