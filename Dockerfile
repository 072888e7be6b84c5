# The `customers` demo as a minimal production image: no shell, no package manager, non-root,
# and no local stand-in (built without the `sandbox` feature, with `metrics`). Build it for the
# nodes' platform:
#
#   docker build --platform linux/amd64 -t <registry>/customers:<unique tag> .
#   az acr build --registry <acr> --platform linux/amd64 --image customers:<unique tag> .
#
# (README "Deploy to AKS" step 8, "Container image". Without --platform, Docker on Apple silicon
# builds linux/arm64, which AKS's amd64 nodes refuse with "exec format error".)
#
# Build stages: the official Rust image on Debian 12 (bookworm), so the binary needs no newer glibc
# than the runtime image has. Runtime stage: distroless/cc on Debian 12: glibc and libgcc_s (what
# `ldd` shows the binary links), CA certificates (Entra's HTTPS and Azure SQL's TLS are verified
# against the system roots), tzdata, /etc/passwd with the `nonroot` user 65532; nothing else.
#
# BASE IMAGES ARE PINNED BY DIGEST: the tag says what it is, the digest fixes the bytes, so a
# rebuild cannot pick up a different base silently. The digests below were not pulled here (the
# machine that wrote them has no registry access): each is the digest that several public
# Dockerfiles pin for the same tag in 2026. Check them, and bump them (a base image's security
# fixes arrive only through a new digest), with
#
#   docker buildx imagetools inspect rust:1.95-slim-bookworm                  # "Digest: sha256:..."
#   docker buildx imagetools inspect gcr.io/distroless/cc-debian12:nonroot
#   (or: crane digest <image:tag>;  az acr import can also copy them into your registry)
#
# and replace the sha256 after the tag. `.ci/validate-deploy` refuses a FROM without one.

# ---- 1. The workspace's skeleton: manifests, the lock file, the patched dependency, stub roots --
# Only what decides the dependency graph. Its output is the same bytes whenever no manifest
# changes, so the next stage's dependency layer stays cached across source edits (what cargo-chef
# does, without installing it).
FROM rust:1.95-slim-bookworm@sha256:d7482085ff5b415f84dba5647ae71606650bdef00db7aeb69f4b3d170c3e4082 AS skeleton
WORKDIR /src
COPY . .
# Every member's Cargo.toml, with an empty stand-in for each target root it has (a library, a
# binary, a declared bench); patches/ (a dependency, built from source) as is.
RUN mkdir -p /skeleton \
    && cp Cargo.toml Cargo.lock /skeleton/ \
    && cp -R patches /skeleton/ \
    && for manifest in crates/*/Cargo.toml; do \
         crate="$(dirname "${manifest}")"; \
         mkdir -p "/skeleton/${crate}"; \
         cp "${manifest}" "/skeleton/${manifest}"; \
         for root in "${crate}"/src/lib.rs "${crate}"/src/main.rs "${crate}"/src/bin/*.rs "${crate}"/benches/*.rs; do \
           [ -f "${root}" ] || continue; \
           mkdir -p "/skeleton/$(dirname "${root}")"; \
           case "${root}" in */lib.rs) : >"/skeleton/${root}" ;; *) echo 'fn main() {}' >"/skeleton/${root}" ;; esac; \
         done; \
         if [ -f "${crate}/build.rs" ]; then echo "build.rs in ${crate}: teach the skeleton stage to keep it" >&2; exit 1; fi; \
       done

# ---- 2. Build: dependencies first (cached), then the workspace's own code -----------------------
FROM rust:1.95-slim-bookworm@sha256:d7482085ff5b415f84dba5647ae71606650bdef00db7aeb69f4b3d170c3e4082 AS build
WORKDIR /src
# --locked: exactly the dependency versions in Cargo.lock. --no-default-features: without the
# `sandbox` feature, so no local stand-in is compiled in; --features metrics: with GET /metrics
# (the library's metrics, for Azure Monitor managed Prometheus). The release profile strips symbols.
# (Plain RUN, no BuildKit-only cache mounts: builds the same with `docker build`, `az acr build`,
# podman or buildah.)
COPY --from=skeleton /skeleton/ ./
RUN cargo build --release --locked -p customers --no-default-features --features metrics
# The real sources (.dockerignore keeps target/, .git and the rest out). Touch them: their
# timestamps come from the build context and may be older than the stubs' build, and cargo
# rebuilds a workspace crate only when a source is newer than its last build.
COPY . .
RUN find crates -name '*.rs' -exec touch {} + \
    && cargo build --release --locked -p customers --no-default-features --features metrics \
    && install -D -m 0755 target/release/customers /out/customers \
    && case "$(/out/customers --version)" in "customers "*) ;; *) echo "the stub, not the demo, was built" >&2; exit 1 ;; esac

# ---- 3. Runtime ----------------------------------------------------------------------------------
FROM gcr.io/distroless/cc-debian12:nonroot@sha256:9dac0a79194e45a7da0158a9c6da57b217585af0786db3845d1f0ec1a0dd182f
COPY --from=build /out/customers /usr/local/bin/customers
# Numeric, so Kubernetes' runAsNonRoot can verify it without resolving a user name.
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/customers"]
