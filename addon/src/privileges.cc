// Least privilege after start-up: drop capabilities and set no_new_privs in
// EVERY thread of the process. Capabilities, the bounding set, ambient
// capabilities and no_new_privs are per thread in Linux, and by the time the
// probes are attached Node runs several threads (V8 platform workers, libuv's
// pool, our ring readers): a capset() in the main thread alone would leave
// the others privileged. Each other thread is sent a real-time signal whose
// handler applies the same change to itself (as glibc does for setuid and
// libcap's psx for capabilities); the caller waits for every thread to
// answer. Threads created later inherit the reduced set from their creator.
#include "privileges.h"

#include <dirent.h>
#include <errno.h>
#include <linux/capability.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>

namespace ebpf_otel {
namespace {

uint64_t g_keep = 0;
int g_last_cap = 40;
std::atomic<int> g_answered{0};
std::atomic<int> g_failed{0};

// Async-signal-safe: system calls only. Returns 0 or an errno.
int ApplyToThisThread() {
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return errno;
  // Bounding set first, while CAP_SETPCAP may still be effective. Without
  // it (a non-root run never has it) the bounding set stays as it is;
  // no_new_privs already stops any regain through exec.
  for (int cap = 0; cap <= g_last_cap; cap++) {
    if ((g_keep >> cap) & 1) continue;
    if (prctl(PR_CAPBSET_READ, cap, 0, 0, 0) == 1) prctl(PR_CAPBSET_DROP, cap, 0, 0, 0);
  }
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL) return errno;
  struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2] = {};
  if (syscall(SYS_capget, &header, data) != 0) return errno;
  for (int i = 0; i < 2; i++) {
    uint32_t keep = static_cast<uint32_t>(g_keep >> (32 * i));
    data[i].effective &= keep;
    data[i].permitted &= keep;
    data[i].inheritable = 0;
  }
  if (syscall(SYS_capset, &header, data) != 0) return errno;
  return 0;
}

void OnSignal(int) {
  int saved = errno;
  if (ApplyToThisThread() != 0) g_failed.fetch_add(1);
  g_answered.fetch_add(1);
  errno = saved;
}

int ReadLastCap() {
  FILE* f = fopen("/proc/sys/kernel/cap_last_cap", "r");
  int last = 40;
  if (f) {
    if (fscanf(f, "%d", &last) != 1) last = 40;
    fclose(f);
  }
  return last > 63 ? 63 : last;
}

}  // namespace

// dropPrivileges(keepMask: bigint) -> { threads, answered, failed, errno }
Napi::Value DropPrivileges(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  bool lossless = true;
  g_keep = info[0].IsBigInt() ? info[0].As<Napi::BigInt>().Uint64Value(&lossless) : 0;
  g_last_cap = ReadLastCap();
  g_answered.store(0);
  g_failed.store(0);

  const int sig = SIGRTMIN + 5;
  struct sigaction action = {}, previous = {};
  action.sa_handler = OnSignal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  sigaction(sig, &action, &previous);

  pid_t pid = getpid();
  pid_t self = static_cast<pid_t>(syscall(SYS_gettid));
  int sent = 0;
  int threads = 1;
  if (DIR* dir = opendir("/proc/self/task")) {
    while (struct dirent* entry = readdir(dir)) {
      if (entry->d_name[0] == '.') continue;
      pid_t tid = static_cast<pid_t>(atoi(entry->d_name));
      if (tid == self || tid <= 0) continue;
      threads++;
      if (syscall(SYS_tgkill, pid, tid, sig) == 0) sent++;
    }
    closedir(dir);
  }
  int own = ApplyToThisThread();
  // Wait (bounded) for every thread's answer; a thread that blocks the
  // signal never answers and is reported, not waited for forever.
  for (int waited = 0; g_answered.load() < sent && waited < 2000; waited++) {
    struct timespec ms = {0, 1000000};
    nanosleep(&ms, nullptr);
  }
  sigaction(sig, &previous, nullptr);

  Napi::Object result = Napi::Object::New(env);
  result.Set("threads", Napi::Number::New(env, threads));
  result.Set("answered", Napi::Number::New(env, g_answered.load() + 1));
  result.Set("failed", Napi::Number::New(env, g_failed.load() + (own != 0 ? 1 : 0)));
  result.Set("errno", Napi::Number::New(env, own));
  return result;
}

}  // namespace ebpf_otel
