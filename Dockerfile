# The `customers` demo as a minimal production image: no shell, no package manager, non-root,
# and no local stand-in (built without the `sandbox` feature).
#
#   docker build -t <registry>/customers:<tag> .
#   docker push <registry>/customers:<tag>          (README "Deploy to AKS", "Container image")
#
# Build stage: the official Rust image on Debian 12 (bookworm), so the binary needs no newer glibc
# than the runtime image has. Runtime stage: distroless/cc on Debian 12: glibc and libgcc_s (what
# `ldd` shows the binary links), CA certificates (Entra's HTTPS and Azure SQL's TLS are verified
# against the system roots), tzdata, /etc/passwd with the `nonroot` user 65532; nothing else.

ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-slim-bookworm AS build
WORKDIR /src
# The workspace sources only (.dockerignore keeps target/, .git and the rest out), with the patched
# tiberius under patches/ that Cargo.toml's [patch.crates-io] names. Cargo needs
# every member's manifest, so all crates come in; only `customers` and its dependencies build.
COPY . .
# --locked: exactly the dependency versions in Cargo.lock. --no-default-features: without the
# `sandbox` feature, so no local stand-in is compiled in. The release profile strips symbols.
# (Plain RUN, no BuildKit-only cache mounts: builds the same with `docker build`, `az acr build`,
# podman or buildah.)
RUN cargo build --release --locked -p customers --no-default-features \
    && install -D -m 0755 target/release/customers /out/customers

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/customers /usr/local/bin/customers
# Numeric, so Kubernetes' runAsNonRoot can verify it without resolving a user name.
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/customers"]
