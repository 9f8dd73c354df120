// A fixed set of worker threads that split loops into contiguous ranges. Between jobs, workers
// spin for a short while (kSpinMicroseconds) before they sleep, because a decode step runs a few
// hundred jobs of well under a millisecond each and waking a sleeping thread costs tens of
// microseconds.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace glimpse {

class ThreadPool {
 public:
  // Starts `n_threads - 1` workers; the calling thread is the last participant. Zero means one
  // thread per hardware thread. Throws std::system_error when the system refuses a thread;
  // LlavaModel::load catches it and returns an error.
  explicit ThreadPool(int n_threads = 0);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return n_threads_; }

  // Calls body(begin, end) over a partition of [0, n) into ranges of at least `min_chunk`
  // items (the last may be shorter), and returns when every range is done. Each thread claims
  // a share of the items still left, so ranges shrink towards the end of the job. `body` must
  // not throw and must not call parallel_for on the same pool. Calls from several threads at
  // once are serialised.
  void parallel_for(std::int64_t n, std::int64_t min_chunk,
                    const std::function<void(std::int64_t begin, std::int64_t end)>& body);

 private:
  // How long an idle worker polls for the next job before it sleeps on the condition variable.
  static constexpr int kSpinMicroseconds = 2000;

  void worker_loop(int worker_index);
  void stop_workers();
  void run_chunks();

  int n_threads_ = 1;
  std::vector<std::thread> workers_;

  std::mutex call_mutex_;  // one parallel_for at a time
  std::mutex mutex_;       // guards sleeping_ and stopping_ for the condition variable
  std::condition_variable work_ready_;
  std::atomic<std::uint64_t> generation_{0};  // bumped once per job
  std::atomic<int> pending_workers_{0};       // workers that have not finished the current job
  int sleeping_ = 0;
  bool stopping_ = false;
  std::atomic<bool> stopping_flag_{false};

  // The job of the current generation, written before generation_ is bumped.
  const std::function<void(std::int64_t, std::int64_t)>* body_ = nullptr;
  std::int64_t n_items_ = 0;
  std::int64_t min_chunk_ = 1;
  std::atomic<std::int64_t> next_item_{0};  // first item not yet claimed
};

}  // namespace glimpse
