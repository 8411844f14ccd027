# syntax=docker/dockerfile:1
# cctv in a container: a release build, then a small Debian runtime with only the binary,
# CA certificates (for HTTPS to WhatsApp providers and webhooks), a non-root user and a
# /data volume (embedded SQLite, secret.key, signing.key, storage/). For PostgreSQL set
# CCTV__DATABASE__URL (see compose.yaml).
#
#   docker build -t cctv .          (podman: podman build --format docker -t cctv . keeps
#                                     the HEALTHCHECK, which OCI images cannot carry)
#   docker run -p 8080:8080 -v cctv-data:/data -e CCTV__TIMEZONE=Asia/Jakarta cctv
#
# cctv-bin/tests/api/container.rs checks a built image: CCTV_TEST_IMAGE=cctv cargo test
# -p cctv --test api container

FROM rust:1.95-bookworm AS build
# aws-lc (reqwest's TLS) builds with cmake; SQLite is bundled and built by cc.
RUN apt-get update \
    && apt-get install -y --no-install-recommends cmake \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p cctv \
    && install -m 0755 target/release/cctv /usr/local/bin/cctv

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates tzdata \
    && apt-get clean \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin \
    && useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin cctv \
    && mkdir -p /data && chown cctv:cctv /data && chmod 0700 /data
COPY --from=build /usr/local/bin/cctv /usr/local/bin/cctv
USER cctv
WORKDIR /data
ENV CCTV__DATA_DIR=/data \
    CCTV__LISTEN=0.0.0.0:8080
VOLUME ["/data"]
EXPOSE 8080
# No curl in the image: the binary asks its own /livez.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["cctv", "probe", "--timeout", "3"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["cctv"]
CMD ["serve"]
