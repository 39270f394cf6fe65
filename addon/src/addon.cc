// Module entry of ebpf_otel.node. The typed API is addon/lib/index.ts; this
// file only registers the native pieces it wraps.
#include <bpf/libbpf.h>
#include <napi.h>
#include <time.h>

#include <cstdint>

#include "bpf_object.h"
#include "errors.h"
#include "libbpf_log.h"
#include "privileges.h"

namespace ebpf_otel {
namespace {

// init(errorFactory): the TS side hands over the function that builds a
// BpfError from (op, errno, code, description, detail, libbpfLog).
Napi::Value Init(const Napi::CallbackInfo& info) {
  AddonData* data = info.Env().GetInstanceData<AddonData>();
  if (info[0].IsFunction()) data->error_factory = Napi::Persistent(info[0].As<Napi::Function>());
  return info.Env().Undefined();
}

Napi::Value LibbpfVersion(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), libbpf_version_string());
}

Napi::Value SetLibbpfDebugJs(const Napi::CallbackInfo& info) {
  SetLibbpfDebug(info[0].ToBoolean().Value());
  return info.Env().Undefined();
}

Napi::Value PossibleCpus(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), libbpf_num_possible_cpus());
}

uint64_t ReadClock(clockid_t clock) {
  struct timespec ts;
  clock_gettime(clock, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

// CLOCK_REALTIME read between two CLOCK_MONOTONIC reads; the tightest of a
// few tries wins (a preemption between reads widens the window), and the
// monotonic midpoint is paired with the realtime read.
Napi::Value ClockPair(const Napi::CallbackInfo& info) {
  uint64_t best_width = UINT64_MAX;
  uint64_t best_realtime = 0;
  uint64_t best_monotonic = 0;
  for (int attempt = 0; attempt < 5; attempt++) {
    uint64_t before = ReadClock(CLOCK_MONOTONIC);
    uint64_t realtime = ReadClock(CLOCK_REALTIME);
    uint64_t after = ReadClock(CLOCK_MONOTONIC);
    uint64_t width = after - before;
    if (width < best_width) {
      best_width = width;
      best_realtime = realtime;
      best_monotonic = before + width / 2;
    }
  }
  Napi::Object result = Napi::Object::New(info.Env());
  result.Set("realtimeNs", Napi::BigInt::New(info.Env(), best_realtime));
  result.Set("monotonicNs", Napi::BigInt::New(info.Env(), best_monotonic));
  return result;
}

}  // namespace

Napi::Object InitModule(Napi::Env env, Napi::Object exports) {
  InstallLibbpfPrint();
  auto* data = new AddonData();
  env.SetInstanceData<AddonData>(data);
  data->object_constructor = Napi::Persistent(NativeObject::DefineClass(env));
  exports.Set("NativeObject", data->object_constructor.Value());
  exports.Set("init", Napi::Function::New<Init>(env, "init"));
  exports.Set("libbpfVersion", Napi::Function::New<LibbpfVersion>(env, "libbpfVersion"));
  exports.Set("setLibbpfDebug", Napi::Function::New<SetLibbpfDebugJs>(env, "setLibbpfDebug"));
  exports.Set("possibleCpus", Napi::Function::New<PossibleCpus>(env, "possibleCpus"));
  exports.Set("clockPair", Napi::Function::New<ClockPair>(env, "clockPair"));
  exports.Set("dropPrivileges", Napi::Function::New<DropPrivileges>(env, "dropPrivileges"));
  return exports;
}

}  // namespace ebpf_otel

static Napi::Object InitEbpfOtel(Napi::Env env, Napi::Object exports) {
  return ebpf_otel::InitModule(env, exports);
}

NODE_API_MODULE(ebpf_otel, InitEbpfOtel)
