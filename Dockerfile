# syntax=docker/dockerfile:1.7
# Quire's image: one binary for every role (serve, worker, migrate, backup…).
#
#   docker build -t quire .                 # the release image (last stage)
#   docker build --target dev -t quire-dev . # compose.yaml's live-reloading web
#
# Dependencies are compiled in their own layer (cargo-chef), so a change to
# src/ rebuilds Quire only, not its ~400 dependencies.

ARG RUST_VERSION=1.95
ARG DEBIAN_RELEASE=trixie

FROM rust:${RUST_VERSION}-slim-${DEBIAN_RELEASE} AS chef
WORKDIR /build
RUN cargo install cargo-chef --locked --version 0.1.71

# The dependency graph only: this layer changes when Cargo.toml/Cargo.lock do.
FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS builder
COPY --from=planner /build/recipe.json recipe.json
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    cargo chef cook --release --locked --bin quire --recipe-path recipe.json
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    cargo build --release --locked --bin quire \
    && install -D -m 0755 target/release/quire /out/quire

# Development: the toolchain plus cargo-watch; compose.yaml mounts the
# source and restarts `quire serve` when src/, templates/ or static/ change
# (templates are compiled in and read once per process).
FROM chef AS dev
RUN cargo install cargo-watch --locked --version 8.5.3
ENV QUIRE_BIND=0.0.0.0:8080
EXPOSE 8080
CMD ["cargo", "watch", "-w", "src", "-w", "templates", "-w", "static", "-w", "migrations", "-x", "run -- serve"]

# The release image: Debian slim, no compiler, no shell tools beyond the
# base; postgresql-client for `quire backup` (pg_dump) and `restore`
# (pg_restore) against PostgreSQL, ca-certificates for S3/SMTP/Sentry TLS.
FROM debian:${DEBIAN_RELEASE}-slim AS runtime
ARG VERSION=dev
ARG REVISION=unknown
LABEL org.opencontainers.image.title="Quire" \
      org.opencontainers.image.description="A self-hosted blogging platform: one binary for web, worker and migrations" \
      org.opencontainers.image.licenses="AGPL-3.0-or-later" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="https://github.com/quire/quire"
# Versions are not pinned: the Debian release is, and its security updates
# are exactly what a rebuild should pick up.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates postgresql-client \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 quire \
    && useradd --system --uid 10001 --gid quire --home-dir /var/lib/quire --create-home quire
COPY --from=builder /out/quire /usr/local/bin/quire
COPY deploy/docker-entrypoint.sh /usr/local/bin/docker-entrypoint
WORKDIR /var/lib/quire
USER 10001:10001
# In a container the server listens on every interface of the container's
# own network namespace; the data folder holds only a generated key and
# the SQLite file of a one-container setup.
ENV QUIRE_BIND=0.0.0.0:8080 \
    QUIRE_DATA_DIR=/var/lib/quire \
    QUIRE_LOG_FORMAT=json
VOLUME ["/var/lib/quire"]
EXPOSE 8080
# SIGTERM starts the drain (QUIRE_SHUTDOWN_DRAIN) then the graceful stop.
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=6s --start-period=20s --retries=3 \
    CMD ["quire", "healthcheck"]
# Reads QUIRE_*_FILE secrets, then execs quire with the arguments given.
ENTRYPOINT ["docker-entrypoint"]
CMD ["serve"]
