#include "bpf_object.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "errors.h"
#include "libbpf_log.h"

namespace ebpf_otel {
namespace {

constexpr int kEBADF = EBADF;

bool IsPerCpu(enum bpf_map_type type) {
  switch (type) {
    case BPF_MAP_TYPE_PERCPU_HASH:
    case BPF_MAP_TYPE_PERCPU_ARRAY:
    case BPF_MAP_TYPE_LRU_PERCPU_HASH:
    case BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE:
      return true;
    default:
      return false;
  }
}

// What bpf_map__lookup_elem wants for the value: per-CPU maps hold one
// 8-byte-aligned slot per possible CPU.
size_t ValueBufferSize(const struct bpf_map* map) {
  size_t value_size = bpf_map__value_size(map);
  if (!IsPerCpu(bpf_map__type(map))) return value_size;
  int cpus = libbpf_num_possible_cpus();
  return ((value_size + 7) / 8) * 8 * static_cast<size_t>(cpus > 0 ? cpus : 1);
}

const char* OrUnknown(const char* text) { return text != nullptr ? text : "unknown"; }

bool RequireBuffer(Napi::Env env, const char* op, const Napi::Value& value, const char* what) {
  if (value.IsBuffer()) return true;
  ThrowBpfError(env, op, EINVAL, std::string(what) + " must be a Buffer");
  return false;
}

}  // namespace

Napi::Function NativeObject::DefineClass(Napi::Env env) {
  return ObjectWrap<NativeObject>::DefineClass(
      env, "NativeObject",
      {
          InstanceMethod<&NativeObject::Programs>("programs"),
          InstanceMethod<&NativeObject::Maps>("maps"),
          InstanceMethod<&NativeObject::SetAutoload>("setAutoload"),
          InstanceMethod<&NativeObject::SetGlobal>("setGlobal"),
          InstanceMethod<&NativeObject::SetMapMaxEntries>("setMapMaxEntries"),
          InstanceMethod<&NativeObject::ShareMap>("shareMap"),
          InstanceMethod<&NativeObject::BtfStruct>("btfStruct"),
          InstanceMethod<&NativeObject::Load>("load"),
          InstanceMethod<&NativeObject::Attach>("attach"),
          InstanceMethod<&NativeObject::AttachTracepoint>("attachTracepoint"),
          InstanceMethod<&NativeObject::AttachRawTracepoint>("attachRawTracepoint"),
          InstanceMethod<&NativeObject::AttachUprobe>("attachUprobe"),
          InstanceMethod<&NativeObject::DestroyLink>("destroyLink"),
          InstanceMethod<&NativeObject::MapLookup>("mapLookup"),
          InstanceMethod<&NativeObject::MapUpdate>("mapUpdate"),
          InstanceMethod<&NativeObject::MapDelete>("mapDelete"),
          InstanceMethod<&NativeObject::MapKeys>("mapKeys"),
          InstanceMethod<&NativeObject::MapEntries>("mapEntries"),
          InstanceMethod<&NativeObject::OpenRingBuffer>("openRingBuffer"),
          InstanceMethod<&NativeObject::ReaderConsume>("readerConsume"),
          InstanceMethod<&NativeObject::ReaderClose>("readerClose"),
          InstanceMethod<&NativeObject::ReaderRef>("readerRef"),
          InstanceMethod<&NativeObject::ReaderStats>("readerStats"),
          InstanceMethod<&NativeObject::Close>("close"),
      });
}

// new NativeObject(path: string, btfCustomPath: string | undefined)
NativeObject::NativeObject(const Napi::CallbackInfo& info) : ObjectWrap<NativeObject>(info) {
  Napi::Env env = info.Env();
  env_ = env;
  std::string path = info[0].As<Napi::String>().Utf8Value();
  std::string btf_custom_path;
  bool has_btf_custom_path = info.Length() > 1 && info[1].IsString();
  if (has_btf_custom_path) btf_custom_path = info[1].As<Napi::String>().Utf8Value();

  LIBBPF_OPTS(bpf_object_open_opts, opts);
  if (has_btf_custom_path) opts.btf_custom_path = btf_custom_path.c_str();
  LibbpfLogCapture log;
  object_ = bpf_object__open_file(path.c_str(), &opts);
  if (object_ == nullptr) {
    int error_number = errno;
    ThrowBpfError(env, "open", PositiveErrno(error_number), "cannot open BPF object '" + path + "'",
                  log.text());
    return;
  }
  napi_add_env_cleanup_hook(env, &NativeObject::CleanupHook, this);
  cleanup_hook_added_ = true;
}

NativeObject::~NativeObject() {
  destroying_ = true;
  CloseAll();
}

void NativeObject::CleanupHook(void* arg) {
  auto* self = static_cast<NativeObject*>(arg);
  self->cleanup_hook_added_ = false;  // Node removed it before calling us
  self->CloseAll();
}

void NativeObject::CloseAll() {
  // Reverse order of creation: readers (threads) first, then links, then the
  // object whose maps and programs they use.
  for (auto& entry : readers_) CloseReader(entry.second.get());
  for (auto& link : links_) {
    if (link != nullptr) {
      bpf_link__destroy(link);
      link = nullptr;
    }
  }
  if (object_ != nullptr) {
    bpf_object__close(object_);
    object_ = nullptr;
  }
  if (cleanup_hook_added_) {
    napi_remove_env_cleanup_hook(env_, &NativeObject::CleanupHook, this);
    cleanup_hook_added_ = false;
  }
}

bool NativeObject::CheckOpen(Napi::Env env, const char* op) {
  if (object_ != nullptr) return true;
  ThrowBpfError(env, op, kEBADF, "the BPF object is closed");
  return false;
}

bool NativeObject::CheckLoaded(Napi::Env env, const char* op) {
  if (!CheckOpen(env, op)) return false;
  if (loaded_) return true;
  ThrowBpfError(env, op, EINVAL, "the BPF object is not loaded yet");
  return false;
}

struct bpf_program* NativeObject::FindProgram(Napi::Env env, const char* op, const std::string& name) {
  struct bpf_program* program = bpf_object__find_program_by_name(object_, name.c_str());
  if (program == nullptr) ThrowBpfError(env, op, ENOENT, "no program named '" + name + "' in the object");
  return program;
}

struct bpf_map* NativeObject::FindMap(Napi::Env env, const char* op, const std::string& name) {
  struct bpf_map* map = bpf_object__find_map_by_name(object_, name.c_str());
  if (map == nullptr) ThrowBpfError(env, op, ENOENT, "no map named '" + name + "' in the object");
  return map;
}

Napi::Value NativeObject::Programs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckOpen(env, "programs")) return env.Undefined();
  Napi::Array result = Napi::Array::New(env);
  uint32_t index = 0;
  struct bpf_program* program;
  bpf_object__for_each_program(program, object_) {
    Napi::Object entry = Napi::Object::New(env);
    entry.Set("name", bpf_program__name(program));
    entry.Set("section", bpf_program__section_name(program));
    entry.Set("type", OrUnknown(libbpf_bpf_prog_type_str(bpf_program__type(program))));
    entry.Set("autoload", Napi::Boolean::New(env, bpf_program__autoload(program)));
    result.Set(index++, entry);
  }
  return result;
}

Napi::Value NativeObject::Maps(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckOpen(env, "maps")) return env.Undefined();
  Napi::Array result = Napi::Array::New(env);
  uint32_t index = 0;
  struct bpf_map* map;
  bpf_object__for_each_map(map, object_) {
    Napi::Object entry = Napi::Object::New(env);
    entry.Set("name", bpf_map__name(map));
    entry.Set("type", OrUnknown(libbpf_bpf_map_type_str(bpf_map__type(map))));
    entry.Set("keySize", Napi::Number::New(env, bpf_map__key_size(map)));
    entry.Set("valueSize", Napi::Number::New(env, bpf_map__value_size(map)));
    entry.Set("maxEntries", Napi::Number::New(env, bpf_map__max_entries(map)));
    entry.Set("isPerCpu", Napi::Boolean::New(env, IsPerCpu(bpf_map__type(map))));
    result.Set(index++, entry);
  }
  return result;
}

// setAutoload(program: string, enabled: boolean)
Napi::Value NativeObject::SetAutoload(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckOpen(env, "set_autoload")) return env.Undefined();
  std::string name = info[0].As<Napi::String>().Utf8Value();
  struct bpf_program* program = FindProgram(env, "set_autoload", name);
  if (program == nullptr) return env.Undefined();
  LibbpfLogCapture log;
  int err = bpf_program__set_autoload(program, info[1].ToBoolean().Value());
  if (err != 0) ThrowBpfError(env, "set_autoload", PositiveErrno(err), "program '" + name + "'", log.text());
  return env.Undefined();
}

// setGlobal(name: string, value: Buffer): finds the variable in the object's
// BTF DATASECs (.rodata, .data, .bss, custom .data.*), then patches the
// matching internal map's initial value.
Napi::Value NativeObject::SetGlobal(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* op = "set_global";
  if (!CheckOpen(env, op)) return env.Undefined();
  std::string name = info[0].As<Napi::String>().Utf8Value();
  if (!RequireBuffer(env, op, info[1], "value")) return env.Undefined();
  Napi::Buffer<uint8_t> value = info[1].As<Napi::Buffer<uint8_t>>();
  if (loaded_) {
    ThrowBpfError(env, op, EBUSY, "global '" + name + "' can only be set before load()");
    return env.Undefined();
  }
  const struct btf* btf = bpf_object__btf(object_);
  if (btf == nullptr) {
    ThrowBpfError(env, op, ENOENT, "the object has no BTF (build it with clang -g)");
    return env.Undefined();
  }
  std::string section;
  uint32_t offset = 0;
  uint32_t size = 0;
  bool found = false;
  uint32_t type_count = btf__type_cnt(btf);
  for (uint32_t id = 1; id < type_count && !found; id++) {
    const struct btf_type* type = btf__type_by_id(btf, id);
    if (!btf_is_datasec(type)) continue;
    const struct btf_var_secinfo* vars = btf_var_secinfos(type);
    for (uint16_t i = 0; i < btf_vlen(type); i++) {
      const struct btf_type* var = btf__type_by_id(btf, vars[i].type);
      if (var == nullptr || !btf_is_var(var)) continue;
      const char* var_name = btf__name_by_offset(btf, var->name_off);
      if (var_name == nullptr || name != var_name) continue;
      section = OrUnknown(btf__name_by_offset(btf, type->name_off));
      offset = vars[i].offset;
      size = vars[i].size;
      found = true;
      break;
    }
  }
  if (!found) {
    ThrowBpfError(env, op, ENOENT,
                  "no global variable '" + name + "' in the object's BTF (unused globals are dropped by the compiler)");
    return env.Undefined();
  }
  if (value.Length() != size) {
    ThrowBpfError(env, op, EINVAL,
                  "global '" + name + "' is " + std::to_string(size) + " bytes, the value is " +
                      std::to_string(value.Length()));
    return env.Undefined();
  }
  // Internal maps answer to their section name (".rodata") in libbpf 1.x.
  struct bpf_map* map = bpf_object__find_map_by_name(object_, section.c_str());
  if (map == nullptr) {
    ThrowBpfError(env, op, ENOENT, "section '" + section + "' of global '" + name + "' has no map");
    return env.Undefined();
  }
  size_t map_size = 0;
  const void* current = bpf_map__initial_value(map, &map_size);
  if (current == nullptr || static_cast<size_t>(offset) + size > map_size) {
    ThrowBpfError(env, op, EINVAL, "section '" + section + "' has no initial value holding '" + name + "'");
    return env.Undefined();
  }
  std::vector<uint8_t> updated(static_cast<const uint8_t*>(current),
                               static_cast<const uint8_t*>(current) + map_size);
  memcpy(updated.data() + offset, value.Data(), size);
  LibbpfLogCapture log;
  int err = bpf_map__set_initial_value(map, updated.data(), updated.size());
  if (err != 0) ThrowBpfError(env, op, PositiveErrno(err), "global '" + name + "'", log.text());
  return env.Undefined();
}

// setMapMaxEntries(map: string, n: number)
Napi::Value NativeObject::SetMapMaxEntries(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* op = "set_map_max_entries";
  if (!CheckOpen(env, op)) return env.Undefined();
  std::string name = info[0].As<Napi::String>().Utf8Value();
  struct bpf_map* map = FindMap(env, op, name);
  if (map == nullptr) return env.Undefined();
  LibbpfLogCapture log;
  int err = bpf_map__set_max_entries(map, info[1].As<Napi::Number>().Uint32Value());
  if (err != 0) ThrowBpfError(env, op, PositiveErrno(err), "map '" + name + "'", log.text());
  return env.Undefined();
}

// shareMap(map: string, from: NativeObject, fromMap: string): before load, makes
// `map` the very map `fromMap` of a loaded object (bpf_map__reuse_fd: the kernel
// map is shared, this object takes its own reference to it).
Napi::Value NativeObject::ShareMap(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* op = "share_map";
  if (!CheckOpen(env, op)) return env.Undefined();
  std::string name = info[0].As<Napi::String>().Utf8Value();
  NativeObject* from = Napi::ObjectWrap<NativeObject>::Unwrap(info[1].As<Napi::Object>());
  std::string from_name = info[2].As<Napi::String>().Utf8Value();
  struct bpf_map* map = FindMap(env, op, name);
  if (map == nullptr) return env.Undefined();
  if (from == nullptr || !from->CheckOpen(env, op)) return env.Undefined();
  struct bpf_map* source = from->FindMap(env, op, from_name);
  if (source == nullptr) return env.Undefined();
  int fd = bpf_map__fd(source);
  if (fd < 0) {
    ThrowBpfError(env, op, EINVAL, "map '" + from_name + "' is not loaded yet: load its object first");
    return env.Undefined();
  }
  LibbpfLogCapture log;
  int err = bpf_map__reuse_fd(map, fd);
  if (err != 0) ThrowBpfError(env, op, PositiveErrno(err), "map '" + name + "' from '" + from_name + "'", log.text());
  return env.Undefined();
}

// btfStruct(name: string) -> { name, size, members: [{ name, offset, size, bitOffset, bitfieldSize }] }
Napi::Value NativeObject::BtfStruct(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* op = "btf_struct";
  if (!CheckOpen(env, op)) return env.Undefined();
  std::string name = info[0].As<Napi::String>().Utf8Value();
  const struct btf* btf = bpf_object__btf(object_);
  if (btf == nullptr) {
    ThrowBpfError(env, op, ENOENT, "the object has no BTF (build it with clang -g)");
    return env.Undefined();
  }
  int id = btf__find_by_name_kind(btf, name.c_str(), BTF_KIND_STRUCT);
  if (id < 0) {
    ThrowBpfError(env, op, ENOENT,
                  "no struct '" + name + "' in the object's BTF (a struct only lands there when the program uses it)");
    return env.Undefined();
  }
  const struct btf_type* type = btf__type_by_id(btf, id);
  Napi::Object result = Napi::Object::New(env);
  result.Set("name", name);
  result.Set("size", Napi::Number::New(env, type->size));
  Napi::Array members = Napi::Array::New(env);
  const struct btf_member* member = btf_members(type);
  for (uint16_t i = 0; i < btf_vlen(type); i++, member++) {
    uint32_t bit_offset = btf_member_bit_offset(type, i);
    uint32_t bitfield_size = btf_member_bitfield_size(type, i);
    long long member_size = btf__resolve_size(btf, member->type);
    Napi::Object entry = Napi::Object::New(env);
    entry.Set("name", OrUnknown(btf__name_by_offset(btf, member->name_off)));
    entry.Set("offset", Napi::Number::New(env, bit_offset / 8));
    entry.Set("size", Napi::Number::New(env, static_cast<double>(member_size < 0 ? 0 : member_size)));
    entry.Set("bitOffset", Napi::Number::New(env, bit_offset));
    entry.Set("bitfieldSize", Napi::Number::New(env, bitfield_size));
    members.Set(i, entry);
  }
  result.Set("members", members);
  return result;
}

Napi::Value NativeObject::Load(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckOpen(env, "load")) return env.Undefined();
  if (loaded_) {
    ThrowBpfError(env, "load", EBUSY, "the object is already loaded");
    return env.Undefined();
  }
  LibbpfLogCapture log;
  int err = bpf_object__load(object_);
  if (err != 0) {
    ThrowBpfError(env, "load", PositiveErrno(err), "the kernel refused the object", log.text());
    return env.Undefined();
  }
  loaded_ = true;
  return env.Undefined();
}

Napi::Value NativeObject::AddLink(Napi::Env env, struct bpf_link* link) {
  links_.push_back(link);
  return Napi::Number::New(env, static_cast<double>(links_.size() - 1));
}

// attach(program: string) -> link id; by the program's section name
Napi::Value NativeObject::Attach(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* op = "attach";
  if (!CheckLoaded(env, op)) return env.Undefined();
  std::string name = info[0].As<Napi::String>().Utf8Value();
  struct bpf_program* program = FindProgram(env, op, name);
  if (program == nullptr) return env.Undefined();
  LibbpfLogCapture log;
  struct bpf_link* link = bpf_program__attach(program);
  if (link == nullptr) {
    int error_number = errno;
    ThrowBpfError(env, op, PositiveErrno(error_number),
                  "program '" + name + "' (section '" + bpf_program__section_name(program) + "')", log.text());
    return env.Undefined();
  }
  return AddLink(env, link);
}

// attachTracepoint(program: string, category: string, name: string) -> link id
Napi::Value NativeObject::AttachTracepoint(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* op = "attach_tracepoint";
  if (!CheckLoaded(env, op)) return env.Undefined();
  std::string name = info[0].As<Napi::String>().Utf8Value();
  std::string category = info[1].As<Napi::String>().Utf8Value();
  std::string tracepoint = info[2].As<Napi::String>().Utf8Value();
  struct bpf_program* program = FindProgram(env, op, name);
  if (program == nullptr) return env.Undefined();
  LibbpfLogCapture log;
  struct bpf_link* link = bpf_program__attach_tracepoint(program, category.c_str(), tracepoint.c_str());
  if (link == nullptr) {
    int error_number = errno;
    ThrowBpfError(env, op, PositiveErrno(error_number),
                  "program '" + name + "' on tracepoint " + category + ":" + tracepoint, log.text());
    return env.Undefined();
  }
  return AddLink(env, link);
}

// attachRawTracepoint(program: string, name: string) -> link id
Napi::Value NativeObject::AttachRawTracepoint(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* op = "attach_raw_tracepoint";
  if (!CheckLoaded(env, op)) return env.Undefined();
  std::string name = info[0].As<Napi::String>().Utf8Value();
  std::string tracepoint = info[1].As<Napi::String>().Utf8Value();
  struct bpf_program* program = FindProgram(env, op, name);
  if (program == nullptr) return env.Undefined();
  LibbpfLogCapture log;
  struct bpf_link* link = bpf_program__attach_raw_tracepoint(program, tracepoint.c_str());
  if (link == nullptr) {
    int error_number = errno;
    ThrowBpfError(env, op, PositiveErrno(error_number),
                  "program '" + name + "' on raw tracepoint " + tracepoint, log.text());
    return env.Undefined();
  }
  return AddLink(env, link);
}

// attachUprobe(program, binaryPath, symbol: string | null, offset, retprobe, pid) -> link id
Napi::Value NativeObject::AttachUprobe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* op = "attach_uprobe";
  if (!CheckLoaded(env, op)) return env.Undefined();
  std::string name = info[0].As<Napi::String>().Utf8Value();
  std::string binary_path = info[1].As<Napi::String>().Utf8Value();
  bool has_symbol = info[2].IsString();
  std::string symbol = has_symbol ? info[2].As<Napi::String>().Utf8Value() : std::string();
  size_t offset = static_cast<size_t>(info[3].As<Napi::Number>().Int64Value());
  bool retprobe = info[4].ToBoolean().Value();
  pid_t pid = info[5].As<Napi::Number>().Int32Value();
  struct bpf_program* program = FindProgram(env, op, name);
  if (program == nullptr) return env.Undefined();

  LIBBPF_OPTS(bpf_uprobe_opts, opts, .retprobe = retprobe);
  if (has_symbol) opts.func_name = symbol.c_str();
  LibbpfLogCapture log;
  struct bpf_link* link = bpf_program__attach_uprobe_opts(program, pid, binary_path.c_str(), offset, &opts);
  if (link == nullptr) {
    int error_number = errno;
    std::string where = binary_path + (has_symbol ? ":" + symbol : "") +
                        (offset != 0 ? "+" + std::to_string(offset) : "");
    ThrowBpfError(env, op, PositiveErrno(error_number),
                  "program '" + name + "' as " + (retprobe ? "uretprobe" : "uprobe") + " on " + where, log.text());
    return env.Undefined();
  }
  return AddLink(env, link);
}

// destroyLink(id): idempotent
Napi::Value NativeObject::DestroyLink(const Napi::CallbackInfo& info) {
  uint32_t id = info[0].As<Napi::Number>().Uint32Value();
  if (id < links_.size() && links_[id] != nullptr) {
    bpf_link__destroy(links_[id]);
    links_[id] = nullptr;
  }
  return info.Env().Undefined();
}

// mapLookup(map: string, key: Buffer) -> Buffer | null
Napi::Value NativeObject::MapLookup(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* op = "map_lookup";
  if (!CheckLoaded(env, op)) return env.Undefined();
  std::string name = info[0].As<Napi::String>().Utf8Value();
  if (!RequireBuffer(env, op, info[1], "key")) return env.Undefined();
  Napi::Buffer<uint8_t> key = info[1].As<Napi::Buffer<uint8_t>>();
  struct bpf_map* map = FindMap(env, op, name);
  if (map == nullptr) return env.Undefined();
  Napi::Buffer<uint8_t> value = Napi::Buffer<uint8_t>::New(env, ValueBufferSize(map));
  LibbpfLogCapture log;
  int err = bpf_map__lookup_elem(map, key.Data(), key.Length(), value.Data(), value.Length(), 0);
  if (err == -ENOENT) return env.Null();
  if (err != 0) {
    ThrowBpfError(env, op, PositiveErrno(err), "map '" + name + "'", log.text());
    return env.Undefined();
  }
  return value;
}

// mapUpdate(map: string, key: Buffer, value: Buffer, flags: number)
Napi::Value NativeObject::MapUpdate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* op = "map_update";
  if (!CheckLoaded(env, op)) return env.Undefined();
  std::string name = info[0].As<Napi::String>().Utf8Value();
  if (!RequireBuffer(env, op, info[1], "key") || !RequireBuffer(env, op, info[2], "value")) return env.Undefined();
  Napi::Buffer<uint8_t> key = info[1].As<Napi::Buffer<uint8_t>>();
  Napi::Buffer<uint8_t> value = info[2].As<Napi::Buffer<uint8_t>>();
  uint64_t flags = static_cast<uint64_t>(info[3].As<Napi::Number>().Int64Value());
  struct bpf_map* map = FindMap(env, op, name);
  if (map == nullptr) return env.Undefined();
  LibbpfLogCapture log;
  int err = bpf_map__update_elem(map, key.Data(), key.Length(), value.Data(), value.Length(), flags);
  if (err != 0) ThrowBpfError(env, op, PositiveErrno(err), "map '" + name + "'", log.text());
  return env.Undefined();
}

// mapDelete(map: string, key: Buffer) -> boolean (false when the key was absent)
Napi::Value NativeObject::MapDelete(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* op = "map_delete";
  if (!CheckLoaded(env, op)) return env.Undefined();
  std::string name = info[0].As<Napi::String>().Utf8Value();
  if (!RequireBuffer(env, op, info[1], "key")) return env.Undefined();
  Napi::Buffer<uint8_t> key = info[1].As<Napi::Buffer<uint8_t>>();
  struct bpf_map* map = FindMap(env, op, name);
  if (map == nullptr) return env.Undefined();
  LibbpfLogCapture log;
  int err = bpf_map__delete_elem(map, key.Data(), key.Length(), 0);
  if (err == -ENOENT) return Napi::Boolean::New(env, false);
  if (err != 0) {
    ThrowBpfError(env, op, PositiveErrno(err), "map '" + name + "'", log.text());
    return env.Undefined();
  }
  return Napi::Boolean::New(env, true);
}

namespace {

// Walks keys with bpf_map__get_next_key. Bounded by max_entries so a map
// being rewritten underneath us cannot keep the walk going forever.
int CollectKeys(struct bpf_map* map, std::vector<std::vector<uint8_t>>* keys) {
  size_t key_size = bpf_map__key_size(map);
  uint32_t limit = bpf_map__max_entries(map);
  std::vector<uint8_t> next(key_size);
  const void* previous = nullptr;
  while (keys->size() < limit) {
    int err = bpf_map__get_next_key(map, previous, next.data(), key_size);
    if (err == -ENOENT) return 0;
    if (err != 0) return err;
    keys->push_back(next);
    previous = keys->back().data();
  }
  return 0;
}

}  // namespace

// mapKeys(map: string) -> Buffer[]
Napi::Value NativeObject::MapKeys(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* op = "map_keys";
  if (!CheckLoaded(env, op)) return env.Undefined();
  std::string name = info[0].As<Napi::String>().Utf8Value();
  struct bpf_map* map = FindMap(env, op, name);
  if (map == nullptr) return env.Undefined();
  std::vector<std::vector<uint8_t>> keys;
  LibbpfLogCapture log;
  int err = CollectKeys(map, &keys);
  if (err != 0) {
    ThrowBpfError(env, op, PositiveErrno(err), "map '" + name + "'", log.text());
    return env.Undefined();
  }
  Napi::Array result = Napi::Array::New(env, keys.size());
  for (size_t i = 0; i < keys.size(); i++) {
    result.Set(static_cast<uint32_t>(i), Napi::Buffer<uint8_t>::Copy(env, keys[i].data(), keys[i].size()));
  }
  return result;
}

// mapEntries(map: string) -> [Buffer, Buffer][]; keys deleted mid-walk are skipped
Napi::Value NativeObject::MapEntries(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* op = "map_entries";
  if (!CheckLoaded(env, op)) return env.Undefined();
  std::string name = info[0].As<Napi::String>().Utf8Value();
  struct bpf_map* map = FindMap(env, op, name);
  if (map == nullptr) return env.Undefined();
  std::vector<std::vector<uint8_t>> keys;
  LibbpfLogCapture log;
  int err = CollectKeys(map, &keys);
  if (err != 0) {
    ThrowBpfError(env, op, PositiveErrno(err), "map '" + name + "'", log.text());
    return env.Undefined();
  }
  size_t value_size = ValueBufferSize(map);
  std::vector<uint8_t> value(value_size);
  Napi::Array result = Napi::Array::New(env);
  uint32_t index = 0;
  for (const auto& key : keys) {
    err = bpf_map__lookup_elem(map, key.data(), key.size(), value.data(), value_size, 0);
    if (err == -ENOENT) continue;
    if (err != 0) {
      ThrowBpfError(env, op, PositiveErrno(err), "map '" + name + "'", log.text());
      return env.Undefined();
    }
    Napi::Array pair = Napi::Array::New(env, 2);
    pair.Set(0u, Napi::Buffer<uint8_t>::Copy(env, key.data(), key.size()));
    pair.Set(1u, Napi::Buffer<uint8_t>::Copy(env, value.data(), value_size));
    result.Set(index++, pair);
  }
  return result;
}

// openRingBuffer(map: string, onBatch: Function, pollTimeoutMs: number, maxBatchBytes: number, maxQueuedBytes: number) -> reader id
Napi::Value NativeObject::OpenRingBuffer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* op = "open_ring_buffer";
  if (!CheckLoaded(env, op)) return env.Undefined();
  std::string name = info[0].As<Napi::String>().Utf8Value();
  if (!info[1].IsFunction()) {
    ThrowBpfError(env, op, EINVAL, "onBatch must be a function");
    return env.Undefined();
  }
  struct bpf_map* map = FindMap(env, op, name);
  if (map == nullptr) return env.Undefined();
  if (bpf_map__type(map) != BPF_MAP_TYPE_RINGBUF) {
    ThrowBpfError(env, op, EINVAL,
                  "map '" + name + "' is a " + OrUnknown(libbpf_bpf_map_type_str(bpf_map__type(map))) +
                      " map, not a ringbuf");
    return env.Undefined();
  }
  std::shared_ptr<RingReader> reader =
      RingReader::Open(env, bpf_map__fd(map), info[1].As<Napi::Function>(), info[2].As<Napi::Number>().Uint32Value(),
                       info[3].As<Napi::Number>().Uint32Value(), info[4].As<Napi::Number>().Uint32Value());
  if (reader == nullptr) return env.Undefined();
  uint32_t id = next_reader_id_++;
  readers_[id] = reader;
  // An open reader keeps this object alive: were it garbage-collected, its
  // destructor would stop a reader the program still expects to deliver.
  // (C API: node-addon-api's Ref()/Unref() would throw on failure, which is
  // fatal in the cleanup hook.)
  napi_reference_ref(env_, static_cast<napi_ref>(*this), nullptr);
  return Napi::Number::New(env, id);
}

std::shared_ptr<RingReader> NativeObject::FindReader(Napi::Env env, const char* op, uint32_t id) {
  auto found = readers_.find(id);
  if (found == readers_.end()) {
    ThrowBpfError(env, op, EBADF, "no ring buffer reader with this id");
    return nullptr;
  }
  return found->second;
}

// readerConsume(id) -> records delivered
Napi::Value NativeObject::ReaderConsume(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::shared_ptr<RingReader> reader = FindReader(env, "ring_buffer_consume", info[0].As<Napi::Number>().Uint32Value());
  if (reader == nullptr) return env.Undefined();
  if (reader->closed()) {
    ThrowBpfError(env, "ring_buffer_consume", EBADF, "the ring buffer reader is closed");
    return env.Undefined();
  }
  uint32_t delivered = reader->Consume(env);
  if (env.IsExceptionPending()) return env.Undefined();
  return Napi::Number::New(env, delivered);
}

void NativeObject::CloseReader(RingReader* reader) {
  if (reader->closed()) return;
  reader->Close();
  // Drop the reference taken when the reader was opened; not from the
  // destructor, where the wrapper's reference is already being torn down.
  if (!destroying_) napi_reference_unref(env_, static_cast<napi_ref>(*this), nullptr);
}

// readerClose(id): idempotent
Napi::Value NativeObject::ReaderClose(const Napi::CallbackInfo& info) {
  auto found = readers_.find(info[0].As<Napi::Number>().Uint32Value());
  if (found != readers_.end()) CloseReader(found->second.get());
  return info.Env().Undefined();
}

// readerRef(id, ref: boolean)
Napi::Value NativeObject::ReaderRef(const Napi::CallbackInfo& info) {
  auto found = readers_.find(info[0].As<Napi::Number>().Uint32Value());
  if (found != readers_.end()) found->second->SetRef(info.Env(), info[1].ToBoolean().Value());
  return info.Env().Undefined();
}

// readerStats(id) -> { batches, records, bytes, waitErrors }
Napi::Value NativeObject::ReaderStats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::shared_ptr<RingReader> reader = FindReader(env, "ring_buffer_stats", info[0].As<Napi::Number>().Uint32Value());
  if (reader == nullptr) return env.Undefined();
  RingReaderStats stats = reader->Stats();
  Napi::Object result = Napi::Object::New(env);
  result.Set("batches", Napi::Number::New(env, static_cast<double>(stats.batches)));
  result.Set("records", Napi::Number::New(env, static_cast<double>(stats.records)));
  result.Set("bytes", Napi::Number::New(env, static_cast<double>(stats.bytes)));
  result.Set("waitErrors", Napi::Number::New(env, static_cast<double>(stats.wait_errors)));
  return result;
}

Napi::Value NativeObject::Close(const Napi::CallbackInfo& info) {
  CloseAll();
  return info.Env().Undefined();
}

}  // namespace ebpf_otel
