// NativeObject: one libbpf bpf_object and everything created from it (links,
// ring buffer readers). Arguments arrive validated by addon/lib/index.ts; this
// side checks only what libbpf cannot (state, sizes before memcpy) and turns
// every libbpf failure into a BpfError with the captured libbpf log.
//
// Ownership: links and readers belong to the object and die with close(), or
// with the env cleanup hook at process exit. A JS link or reader wrapper being
// garbage-collected does not detach anything.
#ifndef EBPF_OTEL_BPF_OBJECT_H
#define EBPF_OTEL_BPF_OBJECT_H

#include <napi.h>

#include <map>
#include <memory>
#include <vector>

#include "ring_reader.h"

struct bpf_object;
struct bpf_program;
struct bpf_map;
struct bpf_link;

namespace ebpf_otel {

class NativeObject : public Napi::ObjectWrap<NativeObject> {
 public:
  static Napi::Function DefineClass(Napi::Env env);
  explicit NativeObject(const Napi::CallbackInfo& info);
  ~NativeObject() override;

 private:
  Napi::Value Programs(const Napi::CallbackInfo& info);
  Napi::Value Maps(const Napi::CallbackInfo& info);
  Napi::Value SetAutoload(const Napi::CallbackInfo& info);
  Napi::Value SetGlobal(const Napi::CallbackInfo& info);
  Napi::Value SetMapMaxEntries(const Napi::CallbackInfo& info);
  Napi::Value ShareMap(const Napi::CallbackInfo& info);
  Napi::Value BtfStruct(const Napi::CallbackInfo& info);
  Napi::Value Load(const Napi::CallbackInfo& info);
  Napi::Value Attach(const Napi::CallbackInfo& info);
  Napi::Value AttachTracepoint(const Napi::CallbackInfo& info);
  Napi::Value AttachRawTracepoint(const Napi::CallbackInfo& info);
  Napi::Value AttachUprobe(const Napi::CallbackInfo& info);
  Napi::Value DestroyLink(const Napi::CallbackInfo& info);
  Napi::Value MapLookup(const Napi::CallbackInfo& info);
  Napi::Value MapUpdate(const Napi::CallbackInfo& info);
  Napi::Value MapDelete(const Napi::CallbackInfo& info);
  Napi::Value MapKeys(const Napi::CallbackInfo& info);
  Napi::Value MapEntries(const Napi::CallbackInfo& info);
  Napi::Value OpenRingBuffer(const Napi::CallbackInfo& info);
  Napi::Value ReaderConsume(const Napi::CallbackInfo& info);
  Napi::Value ReaderClose(const Napi::CallbackInfo& info);
  Napi::Value ReaderRef(const Napi::CallbackInfo& info);
  Napi::Value ReaderStats(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);

  // Each returns nullptr with a pending BpfError naming `op`.
  bool CheckOpen(Napi::Env env, const char* op);
  bool CheckLoaded(Napi::Env env, const char* op);
  struct bpf_program* FindProgram(Napi::Env env, const char* op, const std::string& name);
  struct bpf_map* FindMap(Napi::Env env, const char* op, const std::string& name);
  std::shared_ptr<RingReader> FindReader(Napi::Env env, const char* op, uint32_t id);
  Napi::Value AddLink(Napi::Env env, struct bpf_link* link);

  void CloseReader(RingReader* reader);
  void CloseAll();
  static void CleanupHook(void* arg);

  napi_env env_ = nullptr;
  struct bpf_object* object_ = nullptr;
  bool loaded_ = false;
  bool destroying_ = false;
  bool cleanup_hook_added_ = false;
  std::vector<struct bpf_link*> links_;  // index = link id; nullptr once destroyed
  std::map<uint32_t, std::shared_ptr<RingReader>> readers_;  // closed ones kept for stats()
  uint32_t next_reader_id_ = 1;
};

}  // namespace ebpf_otel

#endif
