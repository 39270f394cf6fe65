// Errors cross into JS as BpfError instances. The class lives in
// addon/lib/index.ts (message wording and hints are the TS side's job); at load
// it hands us a factory, and C++ only supplies the raw facts: operation, errno,
// a one-line detail and libbpf's captured log.
#ifndef EBPF_OTEL_ERRORS_H
#define EBPF_OTEL_ERRORS_H

#include <napi.h>

#include <string>

namespace ebpf_otel {

struct AddonData {
  Napi::FunctionReference error_factory;
  Napi::FunctionReference object_constructor;
};

// `error_number` is a positive errno value. Leaves a pending JS exception.
void ThrowBpfError(Napi::Env env, const char* op, int error_number, const std::string& detail,
                   const std::string& libbpf_log = std::string());

// libbpf returns -errno in ints and sets errno for NULL pointers; both become
// a positive errno here (EINVAL when libbpf gave nothing usable).
inline int PositiveErrno(long value) {
  if (value < 0) value = -value;
  return value == 0 ? 22 /* EINVAL */ : static_cast<int>(value);
}

}  // namespace ebpf_otel

#endif
