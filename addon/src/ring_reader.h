// One BPF ring buffer map read by a native thread and delivered to JS in
// batches: one JS call per batch, never per record.
//
// The thread waits on the ring's epoll fd (the wait half of
// ring_buffer__poll) without holding a lock, then drains with
// ring_buffer__consume under `ring_mutex_`, so consume() on the JS thread can
// drain the same ring safely and in order. Filled batches go to a small
// bounded queue; when JS falls behind the queue fills, the thread stops
// draining and the kernel ring fills up (the BPF side counts its own drops).
// A thread-safe function only wakes the JS thread; the JS thread pulls
// batches from the queue.
//
// Batch framing: records back to back, each [u32 little-endian length][bytes].
#ifndef EBPF_OTEL_RING_READER_H
#define EBPF_OTEL_RING_READER_H

#include <napi.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

struct ring_buffer;

namespace ebpf_otel {

struct RingBatch {
  std::vector<uint8_t> bytes;
  uint32_t records = 0;
  uint64_t payload_bytes = 0;
};

struct RingReaderStats {
  uint64_t batches = 0;
  uint64_t records = 0;
  uint64_t bytes = 0;  // record payload bytes, without the 4-byte length prefixes
  uint64_t wait_errors = 0;
};

class RingReader {
 public:
  // Returns nullptr with a pending BpfError on failure.
  static std::shared_ptr<RingReader> Open(Napi::Env env, int map_fd, Napi::Function on_batch,
                                          uint32_t poll_timeout_ms, size_t max_batch_bytes, size_t max_queued_bytes);
  ~RingReader();

  // Drains queued batches and the ring now, calling onBatch synchronously.
  // Returns the number of records delivered; may leave a JS exception pending.
  uint32_t Consume(Napi::Env env);
  // Stops and joins the thread, frees the ring. Idempotent; JS thread only.
  void Close();
  void SetRef(Napi::Env env, bool ref);
  RingReaderStats Stats() const;
  bool closed() const { return closed_; }

 private:
  RingReader() = default;
  void ThreadMain();
  // Drains the ring into batches; caller holds ring_mutex_. Returns <0 on error.
  int DrainInto(std::deque<RingBatch>* out, bool stop_after_one_batch);
  void Deliver(Napi::Env env, std::deque<RingBatch>* batches, uint32_t* delivered);

  static int OnSample(void* context, void* data, size_t size);
  static void CallJs(napi_env env, napi_value js_callback, void* context, void* data);
  static void FinalizeTsfn(napi_env env, void* finalize_data, void* finalize_hint);
  static void CleanupHook(void* arg);

  napi_env env_ = nullptr;
  struct ring_buffer* ring_ = nullptr;
  napi_threadsafe_function tsfn_ = nullptr;
  napi_ref on_batch_ = nullptr;  // strong reference to onBatch until Close()
  uint32_t poll_timeout_ms_ = 100;
  size_t max_batch_bytes_ = 256 * 1024;
  // Bytes of batches waiting for the JS thread (at least one batch waits, whatever its size):
  // past them the thread stops draining and the kernel ring fills (its losses are counted).
  size_t max_queued_bytes_ = 8 * 1024 * 1024;
  bool closed_ = false;
  bool cleanup_hook_added_ = false;
  std::thread thread_;

  std::mutex ring_mutex_;  // serialises ring_buffer__consume between the thread and JS
  RingBatch* filling_ = nullptr;  // batch OnSample appends to; under ring_mutex_
  bool batch_full_ = false;
  size_t last_batch_bytes_ = 0;   // size of the last batch drained; under ring_mutex_

  std::mutex queue_mutex_;
  std::condition_variable queue_space_;
  std::deque<RingBatch> queue_;
  size_t queued_bytes_ = 0;  // bytes of the batches in queue_; under queue_mutex_
  std::atomic<bool> stop_{false};
  std::atomic<bool> wakeup_pending_{false};
  std::atomic<uint64_t> wait_errors_{0};

  // Delivered-to-JS counters; JS thread only.
  uint64_t batches_ = 0;
  uint64_t records_ = 0;
  uint64_t bytes_ = 0;
};

}  // namespace ebpf_otel

#endif
