#include "glimpse/thread_pool.h"

#include <algorithm>
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
  }
  work_ready_.notify_all();
  for (auto& worker : workers_) {
    if (worker.joinable()) worker.join();
  }
}

void ThreadPool::run_chunks() {
  for (;;) {
    std::int64_t chunk;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (next_chunk_ >= n_chunks_) return;
      chunk = next_chunk_++;
    }
    const std::int64_t begin = chunk * chunk_size_;
    const std::int64_t end = std::min(n_items_, begin + chunk_size_);
    (*body_)(begin, end);
  }
}

void ThreadPool::worker_loop(int /*worker_index*/) {
  std::uint64_t seen_generation = 0;
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mutex_);
      work_ready_.wait(lock, [&] { return stopping_ || generation_ != seen_generation; });
      if (stopping_) return;
      seen_generation = generation_;
      ++active_workers_;
    }
    run_chunks();
    {
      std::lock_guard<std::mutex> lock(mutex_);
      --active_workers_;
    }
    work_done_.notify_one();
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
  // About four chunks per thread balances uneven ranges without much locking.
  const std::int64_t target_chunks = static_cast<std::int64_t>(n_threads_) * 4;
  const std::int64_t chunk = std::max(min_chunk, (n + target_chunks - 1) / target_chunks);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    body_ = &body;
    n_items_ = n;
    chunk_size_ = chunk;
    n_chunks_ = (n + chunk - 1) / chunk;
    next_chunk_ = 0;
    ++generation_;
  }
  work_ready_.notify_all();
  run_chunks();
  std::unique_lock<std::mutex> lock(mutex_);
  work_done_.wait(lock, [&] { return active_workers_ == 0 && next_chunk_ >= n_chunks_; });
  body_ = nullptr;
}

}  // namespace glimpse
