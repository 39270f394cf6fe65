// libbpf prints through one process-wide callback. We route it per operation:
// while a LibbpfLogCapture is alive on a thread, libbpf's messages from that
// thread are collected so a failure can carry them (the verifier log included)
// in BpfError.libbpfLog. Debug-level messages are only produced when
// setLibbpfDebug(true); then everything is also echoed to stderr.
#ifndef EBPF_OTEL_LIBBPF_LOG_H
#define EBPF_OTEL_LIBBPF_LOG_H

#include <string>

namespace ebpf_otel {

// Installs the print callback; call once at module load.
void InstallLibbpfPrint();
void SetLibbpfDebug(bool enabled);

class LibbpfLogCapture {
 public:
  LibbpfLogCapture();
  ~LibbpfLogCapture();
  LibbpfLogCapture(const LibbpfLogCapture&) = delete;
  LibbpfLogCapture& operator=(const LibbpfLogCapture&) = delete;
  const std::string& text() const { return text_; }

 private:
  std::string text_;
  std::string* previous_;
};

}  // namespace ebpf_otel

#endif
