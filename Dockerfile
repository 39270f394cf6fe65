# ebpf-otel agent image: Debian 12 with the build tools for the BPF programs (clang, libbpf) and
# the native addon (g++, node-gyp). npm brings Node 22 (the `node` package in package.json), so
# Debian's older Node.js is only used to run npm itself.
#
#   docker build -t ebpf-otel .          (or: docker compose up --build)
#
# The container needs the host's kernel: see the agent service in docker-compose.yml for the
# capabilities and mounts (BTF, cgroups, host PID namespace).
FROM debian:12.12-slim

RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      ca-certificates nodejs npm \
      clang llvm libbpf-dev libelf-dev zlib1g-dev bpftool make g++ pkg-config python3 \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/ebpf-otel

# Dependencies first, so a source change does not reinstall them.
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error && touch node_modules/.bootstrap-stamp

COPY . .
# Builds the BPF objects (vmlinux.h from the build host's /sys/kernel/btf/vmlinux; CO-RE makes them
# portable), the native addon and the TypeScript. Packages are already installed above. A builder
# without the kernel's BTF leaves this to the first start: `npm start` runs the same bootstrap.
RUN if [ -r /sys/kernel/btf/vmlinux ]; then bash scripts/bootstrap.sh run; \
    else echo "no /sys/kernel/btf/vmlinux in the builder: building at container start instead"; fi

ENV NODE_ENV=production \
    OTEL_SERVICE_NAME=ebpf-otel \
    OTEL_EXPORTER_OTLP_ENDPOINT=http://otel-collector:4317 \
    OTEL_EXPORTER_OTLP_PROTOCOL=grpc

# `npm start` puts node_modules/.bin first on PATH, so `node` there is the Node 22 npm installed.
CMD ["npm", "start"]
