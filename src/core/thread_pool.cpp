#include "glimpse/thread_pool.h"

#include <algorithm>
#include <chrono>
#include <system_error>

namespace glimpse {

ThreadPool::ThreadPool(int n_threads) {
  if (n_threads <= 0) n_threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  n_threads_ = n_threads;
  workers_.reserve(static_cast<std::size_t>(n_threads - 1));
  try {
    for (int i = 0; i + 1 < n_threads; ++i) workers_.emplace_back([this, i] { worker_loop(i); });
  } catch (const std::system_error&) {
    // The system refused another thread: stop the ones already started and report it.
    stop_workers();
    throw;
  }
}

ThreadPool::~ThreadPool() { stop_workers(); }

void ThreadPool::stop_workers() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
    stopping_flag_.store(true, std::memory_order_release);
  }
  work_ready_.notify_all();
  for (auto& worker : workers_) {
    if (worker.joinable()) worker.join();
  }
}

void ThreadPool::run_chunks() {
  // Guided schedule: each claim takes a share of what is left, so the first ranges are long (few
  // claims, long sequential streams) and the last ones short (a short wait for the slowest thread).
  const std::int64_t divisor = 2 * static_cast<std::int64_t>(n_threads_);
  std::int64_t begin = next_item_.load(std::memory_order_relaxed);
  for (;;) {
    if (begin >= n_items_) return;
    const std::int64_t left = n_items_ - begin;
    const std::int64_t size = std::min(left, std::max(min_chunk_, (left + divisor - 1) / divisor));
    if (!next_item_.compare_exchange_weak(begin, begin + size, std::memory_order_relaxed)) continue;
    (*body_)(begin, begin + size);
    begin = next_item_.load(std::memory_order_relaxed);
  }
}

namespace {

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

}  // namespace

void ThreadPool::worker_loop(int /*worker_index*/) {
  std::uint64_t seen_generation = 0;
  for (;;) {
    // Poll for the next job for a while, then sleep until parallel_for or the destructor wakes us.
    const auto spin_until = std::chrono::steady_clock::now() + std::chrono::microseconds(kSpinMicroseconds);
    std::uint64_t generation = generation_.load(std::memory_order_acquire);
    for (int i = 0; generation == seen_generation && !stopping_flag_.load(std::memory_order_relaxed); ++i) {
      cpu_relax();
      if ((i & 255) == 255 && std::chrono::steady_clock::now() > spin_until) {
        std::unique_lock<std::mutex> lock(mutex_);
        ++sleeping_;
        work_ready_.wait(lock, [&] {
          return stopping_ || generation_.load(std::memory_order_acquire) != seen_generation;
        });
        --sleeping_;
      }
      generation = generation_.load(std::memory_order_acquire);
    }
    if (stopping_flag_.load(std::memory_order_acquire)) return;
    seen_generation = generation;
    run_chunks();
    pending_workers_.fetch_sub(1, std::memory_order_acq_rel);
  }
}

void ThreadPool::parallel_for(std::int64_t n, std::int64_t min_chunk,
                              const std::function<void(std::int64_t, std::int64_t)>& body) {
  if (n <= 0) return;
  min_chunk = std::max<std::int64_t>(1, min_chunk);
  if (n_threads_ == 1 || n <= min_chunk) {
    body(0, n);
    return;
  }
  std::lock_guard<std::mutex> call_lock(call_mutex_);
  body_ = &body;
  n_items_ = n;
  min_chunk_ = min_chunk;
  next_item_.store(0, std::memory_order_relaxed);
  pending_workers_.store(static_cast<int>(workers_.size()), std::memory_order_relaxed);
  {
    // Under the mutex, so a worker that is about to sleep either reads the new generation in its
    // wait predicate or is already waiting and gets the notification.
    std::lock_guard<std::mutex> lock(mutex_);
    generation_.fetch_add(1, std::memory_order_release);
    if (sleeping_ > 0) work_ready_.notify_all();
  }
  run_chunks();
  // Every worker takes part in every job (it may find no chunk left), so the job's state stays
  // valid until all have checked out.
  while (pending_workers_.load(std::memory_order_acquire) != 0) cpu_relax();
  body_ = nullptr;
}

}  // namespace glimpse
