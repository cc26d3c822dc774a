# syntax=docker/dockerfile:1
# Build: swift build -c release with the Swift runtime linked in, then a slim Debian
# runtime that holds only the binary and libsqlite3-0.

# What `tether --version`, /healthz and the image's labels say. The build context has
# no .git, so the commit comes in as an argument:
#   docker build --build-arg TETHER_COMMIT=$(git rev-parse HEAD) \
#     --build-arg TETHER_BUILD_DATE=$(date -u +%Y-%m-%dT%H:%M:%SZ) \
#     --build-arg TETHER_SOURCE=$(git remote get-url origin) .
# Without them the binary and labels say `unknown` (never a wrong value).
# TETHER_VERSION must match the VERSION file (a test checks).
ARG TETHER_VERSION=0.3.0
ARG TETHER_COMMIT=unknown
ARG TETHER_BUILD_DATE=unknown
ARG TETHER_SOURCE=unknown

FROM swift:6.3-bookworm AS build
ARG TETHER_COMMIT
ARG TETHER_BUILD_DATE
RUN apt-get update && apt-get install -y --no-install-recommends libsqlite3-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Package.swift VERSION ./
COPY Plugins ./Plugins
COPY scripts/build-info ./scripts/build-info
COPY Sources ./Sources
COPY Tests ./Tests
COPY openapi.yaml ./
RUN TETHER_BUILD_COMMIT="$TETHER_COMMIT" TETHER_BUILD_DATE="$TETHER_BUILD_DATE" \
    swift build -c release --static-swift-stdlib --product tether \
    && install -D "$(swift build -c release --show-bin-path)/tether" /out/tether

FROM debian:bookworm-slim AS runtime
ARG TETHER_VERSION
ARG TETHER_COMMIT
ARG TETHER_BUILD_DATE
ARG TETHER_SOURCE
LABEL org.opencontainers.image.title="tether" \
      org.opencontainers.image.description="Keeps an agent's signaling WebSocket to its SFU alive, and explains every loss." \
      org.opencontainers.image.version="$TETHER_VERSION" \
      org.opencontainers.image.revision="$TETHER_COMMIT" \
      org.opencontainers.image.created="$TETHER_BUILD_DATE" \
      org.opencontainers.image.source="$TETHER_SOURCE"
RUN apt-get update && apt-get install -y --no-install-recommends libsqlite3-0 ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin tether \
    && mkdir -p /data && chown tether:tether /data
COPY --from=build /out/tether /usr/local/bin/tether
USER tether
WORKDIR /data
VOLUME ["/data"]
# Off loopback a token is required: pass TETHER_API_TOKEN at run time.
ENV TETHER_HOST=0.0.0.0 \
    TETHER_PORT=8080 \
    TETHER_DB=/data/tether.sqlite
EXPOSE 8080
# /readyz, not /healthz: it answers 503 while the history cannot be written (a full or
# read-only volume), which is when an orchestrator should stop sending traffic here.
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
    CMD curl -fsS http://127.0.0.1:8080/readyz || exit 1
ENTRYPOINT ["/usr/local/bin/tether"]
CMD ["serve"]
