# syntax=docker/dockerfile:1
# Build: swift build -c release with the Swift runtime linked in, then a slim Debian
# runtime that holds only the binary and libsqlite3-0.

FROM swift:6.3-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends libsqlite3-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Package.swift ./
COPY Sources ./Sources
COPY Tests ./Tests
COPY openapi.yaml ./
RUN swift build -c release --static-swift-stdlib --product tether \
    && install -D "$(swift build -c release --show-bin-path)/tether" /out/tether

FROM debian:bookworm-slim AS runtime
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
