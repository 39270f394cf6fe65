// dropPrivileges: capabilities and no_new_privs in every thread (privileges.cc).
#pragma once

#include <napi.h>

namespace ebpf_otel {

Napi::Value DropPrivileges(const Napi::CallbackInfo& info);

}  // namespace ebpf_otel
