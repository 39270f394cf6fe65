{
  # Native half of addon/lib/index.ts: a thin node-addon-api binding over the
  # system libbpf (Debian libbpf-dev 1.1.2). C++ exceptions are off; errors
  # reach JS as BpfError objects built by the TypeScript side.
  "targets": [
    {
      "target_name": "ebpf_otel",
      "sources": [
        "src/addon.cc",
        "src/bpf_object.cc",
        "src/errors.cc",
        "src/libbpf_log.cc",
        "src/privileges.cc",
        "src/ring_reader.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions"],
      "cflags_cc": ["-std=c++17", "-fno-exceptions", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "libraries": ["-lbpf", "-lpthread"]
    }
  ]
}
