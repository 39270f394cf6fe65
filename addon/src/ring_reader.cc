#include "ring_reader.h"

#include <bpf/libbpf.h>
#include <sys/epoll.h>

#include <algorithm>
#include <cerrno>

#include "errors.h"
#include "libbpf_log.h"

namespace ebpf_otel {
namespace {

// OnSample's "batch is full, stop draining" signal to ring_buffer__consume.
// libbpf has already consumed the record it was given when it sees this.
constexpr int kBatchFull = -1;

}  // namespace

std::shared_ptr<RingReader> RingReader::Open(Napi::Env env, int map_fd, Napi::Function on_batch,
                                             uint32_t poll_timeout_ms, size_t max_batch_bytes, size_t max_queued_bytes) {
  std::shared_ptr<RingReader> reader(new RingReader());
  reader->env_ = env;
  reader->poll_timeout_ms_ = poll_timeout_ms;
  reader->max_batch_bytes_ = max_batch_bytes;
  reader->max_queued_bytes_ = max_queued_bytes;

  {
    LibbpfLogCapture log;
    reader->ring_ = ring_buffer__new(map_fd, &RingReader::OnSample, reader.get(), nullptr);
    if (reader->ring_ == nullptr) {
      int error_number = errno;
      ThrowBpfError(env, "ring_buffer_new", PositiveErrno(error_number),
                    "cannot create a ring buffer reader for this map", log.text());
      return nullptr;
    }
  }

  // The TSFN owns one reference to the reader, released in FinalizeTsfn: a
  // wake-up may still be queued after Close() and must find the reader alive.
  auto* holder = new std::shared_ptr<RingReader>(reader);
  napi_value resource_name;
  napi_create_string_utf8(env, "ebpf_otel.RingBufferReader", NAPI_AUTO_LENGTH, &resource_name);
  napi_status status = napi_create_threadsafe_function(
      env, nullptr, nullptr, resource_name, 0 /* unbounded: at most one wake-up is queued */,
      1 /* the reader thread */, holder, &RingReader::FinalizeTsfn, holder, &RingReader::CallJs,
      &reader->tsfn_);
  if (status != napi_ok) {
    delete holder;
    ring_buffer__free(reader->ring_);
    reader->ring_ = nullptr;
    ThrowBpfError(env, "ring_buffer_new", 12 /* ENOMEM */, "cannot create the thread-safe function");
    return nullptr;
  }
  napi_create_reference(env, on_batch, 1, &reader->on_batch_);
  // Added after the TSFN so it runs before Node tears the TSFN down (cleanup
  // hooks run in reverse order): the thread is joined while the TSFN is valid.
  napi_add_env_cleanup_hook(env, &RingReader::CleanupHook, reader.get());
  reader->cleanup_hook_added_ = true;
  reader->thread_ = std::thread(&RingReader::ThreadMain, reader.get());
  return reader;
}

RingReader::~RingReader() {
  // Close() always runs first (object close, cleanup hook); this is a guard.
  if (thread_.joinable()) {
    stop_ = true;
    queue_space_.notify_all();
    thread_.join();
  }
  if (ring_ != nullptr) ring_buffer__free(ring_);
}

int RingReader::OnSample(void* context, void* data, size_t size) {
  auto* reader = static_cast<RingReader*>(context);
  RingBatch* batch = reader->filling_;
  uint32_t length = static_cast<uint32_t>(size);
  uint8_t prefix[4] = {static_cast<uint8_t>(length), static_cast<uint8_t>(length >> 8),
                       static_cast<uint8_t>(length >> 16), static_cast<uint8_t>(length >> 24)};
  batch->bytes.insert(batch->bytes.end(), prefix, prefix + 4);
  const auto* bytes = static_cast<const uint8_t*>(data);
  batch->bytes.insert(batch->bytes.end(), bytes, bytes + size);
  batch->records++;
  batch->payload_bytes += size;
  if (batch->bytes.size() >= reader->max_batch_bytes_) {
    reader->batch_full_ = true;
    return kBatchFull;
  }
  return 0;
}

int RingReader::DrainInto(std::deque<RingBatch>* out, bool stop_after_one_batch) {
  for (;;) {
    RingBatch batch;
    // Sized like the last batch (a quarter more), not grown from 4 KiB by doubling: under a storm
    // of 4 KiB exec records a 256 KiB batch was copied six times over on its way to full size.
    batch.bytes.reserve(std::min(max_batch_bytes_ + 64, std::max<size_t>(4096, last_batch_bytes_ + last_batch_bytes_ / 4)));
    filling_ = &batch;
    batch_full_ = false;
    int result = ring_buffer__consume(ring_);
    filling_ = nullptr;
    bool full = batch_full_;
    last_batch_bytes_ = batch.bytes.size();
    if (batch.records > 0) out->push_back(std::move(batch));
    if (result < 0 && !full) return result;
    if (!full || stop_after_one_batch) return full ? 1 : 0;
  }
}

void RingReader::ThreadMain() {
  int epoll_fd = ring_buffer__epoll_fd(ring_);
  bool more_ready = false;
  while (!stop_) {
    {
      std::unique_lock<std::mutex> lock(queue_mutex_);
      queue_space_.wait(lock, [this] { return stop_ || queue_.empty() || queued_bytes_ < max_queued_bytes_; });
    }
    if (stop_) break;
    if (!more_ready) {
      // The wait half of ring_buffer__poll(), done without the ring lock so
      // consume() on the JS thread is never blocked behind a sleeping poll.
      struct epoll_event event;
      int ready = epoll_wait(epoll_fd, &event, 1, static_cast<int>(poll_timeout_ms_));
      if (ready < 0) {
        if (errno == EINTR) continue;
        wait_errors_++;
        std::unique_lock<std::mutex> lock(queue_mutex_);
        queue_space_.wait_for(lock, std::chrono::milliseconds(poll_timeout_ms_), [this] { return stop_.load(); });
        continue;
      }
      // A timeout still drains: programs may submit without waking us
      // (BPF_RB_NO_WAKEUP) to batch wake-ups under load.
    }
    bool queued = false;
    {
      std::lock_guard<std::mutex> ring_lock(ring_mutex_);
      std::deque<RingBatch> drained;
      int result = DrainInto(&drained, true);
      more_ready = result > 0;
      if (result < 0) wait_errors_++;
      if (!drained.empty()) {
        // Queued while still holding the ring lock so a concurrent consume()
        // sees these batches before anything it drains itself: order is kept.
        std::lock_guard<std::mutex> lock(queue_mutex_);
        for (auto& batch : drained) {
          queued_bytes_ += batch.bytes.size();
          queue_.push_back(std::move(batch));
        }
        queued = true;
      }
    }
    if (queued && !wakeup_pending_.exchange(true)) {
      napi_call_threadsafe_function(tsfn_, nullptr, napi_tsfn_nonblocking);
    }
  }
}

// A batch's bytes handed to JS as an external Buffer, not copied: under a storm
// of 4 KiB exec records the copy was a quarter of the agent's memmove. V8
// accounts for the backing store as for any Buffer's; the finalizer frees it.
// Where external buffers are refused (a V8 sandbox), the bytes are copied.
static void FreeBatchBytes(napi_env, void*, void* hint) {
  delete static_cast<std::vector<uint8_t>*>(hint);
}

static napi_status BatchBuffer(napi_env env, std::vector<uint8_t>* bytes, napi_value* out) {
  auto* held = new std::vector<uint8_t>(std::move(*bytes));
  napi_status status = napi_create_external_buffer(env, held->size(), held->data(), FreeBatchBytes, held, out);
  if (status == napi_ok) return status;
  // Not handed over: the bytes are still ours to copy and free.
  void* copy;
  status = napi_create_buffer_copy(env, held->size(), held->data(), &copy, out);
  delete held;
  return status;
}

// Plain Node-API calls, each checked: during env teardown Node may still run
// a queued wake-up while refusing to run JS, and node-addon-api would turn
// those refusals into fatal errors. On any failure delivery just stops.
void RingReader::Deliver(Napi::Env env, std::deque<RingBatch>* batches, uint32_t* delivered) {
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  while (!batches->empty() && !closed_ && !env.IsExceptionPending()) {
    RingBatch batch = std::move(batches->front());
    batches->pop_front();
    napi_value argv[2];
    napi_value callback;
    napi_value receiver;
    napi_value result;
    if (BatchBuffer(env, &batch.bytes, &argv[0]) != napi_ok ||
        napi_create_uint32(env, batch.records, &argv[1]) != napi_ok ||
        napi_get_reference_value(env, on_batch_, &callback) != napi_ok || callback == nullptr ||
        napi_get_undefined(env, &receiver) != napi_ok) {
      break;
    }
    batches_++;
    records_ += batch.records;
    bytes_ += batch.payload_bytes;
    if (delivered != nullptr) *delivered += batch.records;
    if (napi_call_function(env, receiver, callback, 2, argv, &result) != napi_ok) break;
  }
  napi_close_handle_scope(env, scope);
}

void RingReader::CallJs(napi_env env, napi_value, void* context, void*) {
  // env is null when Node empties the queue while tearing the TSFN down,
  // after FinalizeTsfn already freed `context`: touch nothing then.
  if (env == nullptr) return;
  auto* reader = static_cast<std::shared_ptr<RingReader>*>(context)->get();
  reader->wakeup_pending_ = false;
  Napi::Env napi_env(env);
  // Pull one batch at a time so the thread can refill behind us and a close()
  // from inside onBatch stops delivery at once.
  while (!reader->closed_ && !napi_env.IsExceptionPending()) {
    std::deque<RingBatch> next;
    {
      std::lock_guard<std::mutex> lock(reader->queue_mutex_);
      if (reader->queue_.empty()) break;
      reader->queued_bytes_ -= reader->queue_.front().bytes.size();
      next.push_back(std::move(reader->queue_.front()));
      reader->queue_.pop_front();
    }
    reader->queue_space_.notify_one();
    reader->Deliver(napi_env, &next, nullptr);
  }
}

uint32_t RingReader::Consume(Napi::Env env) {
  uint32_t delivered = 0;
  if (closed_) return 0;
  std::deque<RingBatch> batches;
  int result;
  {
    std::lock_guard<std::mutex> ring_lock(ring_mutex_);
    {
      // Batches the thread already drained come first.
      std::lock_guard<std::mutex> lock(queue_mutex_);
      batches.swap(queue_);
      queued_bytes_ = 0;
    }
    LibbpfLogCapture log;
    result = DrainInto(&batches, false);
    if (result < 0) {
      queue_space_.notify_all();
      ThrowBpfError(env, "ring_buffer_consume", PositiveErrno(result), "draining the ring buffer failed",
                    log.text());
      return 0;
    }
  }
  queue_space_.notify_all();
  Deliver(env, &batches, &delivered);
  return delivered;
}

void RingReader::Close() {
  if (closed_) return;
  closed_ = true;
  {
    std::lock_guard<std::mutex> lock(queue_mutex_);
    stop_ = true;
    queue_.clear();
    queued_bytes_ = 0;
  }
  queue_space_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (ring_ != nullptr) {
    ring_buffer__free(ring_);
    ring_ = nullptr;
  }
  if (cleanup_hook_added_) {
    napi_remove_env_cleanup_hook(env_, &RingReader::CleanupHook, this);
    cleanup_hook_added_ = false;
  }
  if (on_batch_ != nullptr) {
    napi_delete_reference(env_, on_batch_);
    on_batch_ = nullptr;
  }
  if (tsfn_ != nullptr) {
    // Drops the thread's reference: Node finalizes the TSFN (and with it our
    // holder) on its own schedule; CallJs ignores a closed reader meanwhile.
    napi_release_threadsafe_function(tsfn_, napi_tsfn_release);
    tsfn_ = nullptr;
  }
}

void RingReader::SetRef(Napi::Env env, bool ref) {
  if (tsfn_ == nullptr) return;
  if (ref) {
    napi_ref_threadsafe_function(env, tsfn_);
  } else {
    napi_unref_threadsafe_function(env, tsfn_);
  }
}

RingReaderStats RingReader::Stats() const {
  RingReaderStats stats;
  stats.batches = batches_;
  stats.records = records_;
  stats.bytes = bytes_;
  stats.wait_errors = wait_errors_.load();
  return stats;
}

void RingReader::FinalizeTsfn(napi_env, void* finalize_data, void*) {
  delete static_cast<std::shared_ptr<RingReader>*>(finalize_data);
}

void RingReader::CleanupHook(void* arg) {
  auto* reader = static_cast<RingReader*>(arg);
  reader->cleanup_hook_added_ = false;  // Node removed it before calling us
  reader->Close();
}

}  // namespace ebpf_otel
