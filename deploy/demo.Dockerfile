# The demo service image (compose profile `demo`), built from the repository root:
#   docker build -f deploy/demo.Dockerfile -t tta-demo:local .
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --package tta-demo

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/tta-demo /usr/local/bin/tta-demo
USER 65534
EXPOSE 8080 9464
ENTRYPOINT ["/usr/local/bin/tta-demo"]
