# Build: docker build -t membersync .
# Run:   docker run --env-file membersync.env -v $PWD/membersync.yaml:/etc/membersync.yaml:ro \
#          -v membersync-data:/data -p 8080:8080 membersync
# (set listen: ":8080" and database_url: "sqlite:/data/membersync.db" in the config)
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o /membersync ./cmd/membersync

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /membersync /membersync
VOLUME /data
EXPOSE 8080
ENTRYPOINT ["/membersync"]
CMD ["serve", "--config", "/etc/membersync.yaml"]
