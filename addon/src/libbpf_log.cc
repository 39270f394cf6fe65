#include "libbpf_log.h"

#include <bpf/libbpf.h>

#include <atomic>
#include <cstdarg>
#include <cstdio>

namespace ebpf_otel {
namespace {

std::atomic<bool> debug_enabled{false};
// Thread-local so the ring buffer threads never write into an operation
// running on the JS thread.
thread_local std::string* capture_target = nullptr;

int PrintToCapture(enum libbpf_print_level level, const char* format, va_list args) {
  if (level == LIBBPF_DEBUG && !debug_enabled.load(std::memory_order_relaxed)) return 0;

  va_list measure;
  va_copy(measure, args);
  int length = vsnprintf(nullptr, 0, format, measure);
  va_end(measure);
  if (length <= 0) return 0;
  std::string message(static_cast<size_t>(length), '\0');
  vsnprintf(message.data(), message.size() + 1, format, args);

  if (capture_target != nullptr) capture_target->append(message);
  // Outside an operation nobody will read a captured message, so warnings go
  // to stderr; inside one they travel with the error instead.
  if (debug_enabled.load(std::memory_order_relaxed) ||
      (capture_target == nullptr && level == LIBBPF_WARN)) {
    fputs(message.c_str(), stderr);
  }
  return 0;
}

}  // namespace

void InstallLibbpfPrint() { libbpf_set_print(PrintToCapture); }

void SetLibbpfDebug(bool enabled) { debug_enabled.store(enabled, std::memory_order_relaxed); }

LibbpfLogCapture::LibbpfLogCapture() : previous_(capture_target) { capture_target = &text_; }

LibbpfLogCapture::~LibbpfLogCapture() { capture_target = previous_; }

}  // namespace ebpf_otel
