#include "errors.h"

#include <cstring>

namespace ebpf_otel {

void ThrowBpfError(Napi::Env env, const char* op, int error_number, const std::string& detail,
                   const std::string& libbpf_log) {
  const char* code = strerrorname_np(error_number);
  std::string code_text = code != nullptr ? code : "E" + std::to_string(error_number);
  std::string description = strerror(error_number);

  AddonData* data = env.GetInstanceData<AddonData>();
  if (data != nullptr && !data->error_factory.IsEmpty()) {
    Napi::Value error = data->error_factory.Call({
        Napi::String::New(env, op),
        Napi::Number::New(env, error_number),
        Napi::String::New(env, code_text),
        Napi::String::New(env, description),
        Napi::String::New(env, detail),
        Napi::String::New(env, libbpf_log),
    });
    if (env.IsExceptionPending()) return;  // the factory itself threw: let that surface
    Napi::Error(env, error).ThrowAsJavaScriptException();
    return;
  }

  // Only reachable if the TS wrapper was bypassed: still a useful error.
  Napi::Error error = Napi::Error::New(env, std::string(op) + ": " + detail + ": " + description +
                                                " (" + code_text + ")");
  error.Set("errno", Napi::Number::New(env, error_number));
  error.Set("code", Napi::String::New(env, code_text));
  error.Set("op", Napi::String::New(env, op));
  error.Set("libbpfLog", Napi::String::New(env, libbpf_log));
  error.ThrowAsJavaScriptException();
}

}  // namespace ebpf_otel
