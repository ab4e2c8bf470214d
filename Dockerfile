# syntax=docker/dockerfile:1
#
# Canopy in two stages: build the release binary with the Rust toolchain, then copy it into a
# small Debian image. The image expects an external PostgreSQL (CANOPY_DATABASE_URL); it does
# not ship PostgreSQL binaries, so the embedded-cluster default is not available inside it.

FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
# The cache mounts keep the crate registry and build artefacts between builds.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p canopy \
 && cp target/release/canopy /usr/local/bin/canopy

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --home-dir /var/lib/canopy --create-home --shell /usr/sbin/nologin canopy
COPY --from=build /usr/local/bin/canopy /usr/local/bin/canopy
COPY config/canopy.toml /etc/canopy/canopy.toml
USER canopy
WORKDIR /var/lib/canopy
ENV CANOPY_BIND=0.0.0.0:8536 \
    CANOPY_DATA_DIR=/var/lib/canopy/data
EXPOSE 8536
ENTRYPOINT ["canopy"]
CMD ["serve"]
