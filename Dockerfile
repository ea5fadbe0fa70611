# syntax=docker/dockerfile:1
# securityhub-operator container image: a release build of the binary on distroless (glibc, CA certificates,
# user 65532, no shell, no package manager).
#   docker build -t securityhub-operator:0.1.0 .
#   docker buildx build --platform linux/amd64,linux/arm64 -t ghcr.io/<owner>/securityhub-operator:0.1.0 --push .

# Debian 12 (bookworm) builder to match the glibc of distroless/cc-debian12. Keep the Rust version >= rust-version in
# Cargo.toml; bump deliberately.
FROM docker.io/library/rust:1.95.0-bookworm AS build
WORKDIR /src
COPY . .
# The cache mounts keep the registry and target/ between builds (BuildKit); the binary is copied out of them.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin securityhub-operator \
 && install -D -m 0755 target/release/securityhub-operator /out/securityhub-operator

FROM gcr.io/distroless/cc-debian12:nonroot
LABEL org.opencontainers.image.title="securityhub-operator" \
      org.opencontainers.image.description="Declarative AWS Security Hub membership for Kubernetes" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /out/securityhub-operator /usr/local/bin/securityhub-operator
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/securityhub-operator"]
CMD ["run"]
