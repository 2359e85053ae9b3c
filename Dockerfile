# syntax=docker/dockerfile:1

# Build: a static binary (templates, assets and migrations are embedded).
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -buildvcs=false -ldflags='-s -w' -o /out/omnichat ./cmd/omnichat \
 && mkdir -p /out/data

# Run: no shell, no package manager, not root. The image has no PostgreSQL: give it
# OMNICHAT_DATABASE_URL (docker-compose.yml runs a postgres service for that).
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/omnichat /usr/local/bin/omnichat
# Owned by the nonroot user (65532) so a fresh named volume mounted here is writable.
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
ENV OMNICHAT_DATA_DIR=/data \
    OMNICHAT_HTTP_ADDR=0.0.0.0:8080
VOLUME /data
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/omnichat"]
CMD ["serve"]
