#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "glimpse/thread_pool.h"

namespace glimpse {
namespace {

TEST(ThreadPool, CoversEveryIndexOnce) {
  ThreadPool pool(4);
  for (std::int64_t n : {1, 3, 17, 1000, 4097}) {
    std::vector<std::atomic<int>> hits(static_cast<std::size_t>(n));
    pool.parallel_for(n, 1, [&](std::int64_t begin, std::int64_t end) {
      for (std::int64_t i = begin; i < end; ++i) hits[static_cast<std::size_t>(i)]++;
    });
    for (std::int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[static_cast<std::size_t>(i)].load(), 1) << "n=" << n << " i=" << i;
  }
}

TEST(ThreadPool, ZeroItemsCallsNothing) {
  ThreadPool pool(3);
  bool called = false;
  pool.parallel_for(0, 1, [&](std::int64_t, std::int64_t) { called = true; });
  EXPECT_FALSE(called);
}

TEST(ThreadPool, DefaultSizeUsesHardwareThreads) {
  ThreadPool pool;
  EXPECT_GE(pool.size(), 1);
}

TEST(ThreadPool, ManyCallsInARow) {
  ThreadPool pool(4);
  std::atomic<std::int64_t> total{0};
  for (int call = 0; call < 2000; ++call) {
    pool.parallel_for(64, 1, [&](std::int64_t begin, std::int64_t end) { total += end - begin; });
  }
  EXPECT_EQ(total.load(), 2000 * 64);
}

// Workers that have gone to sleep after their spin period wake up for the next job, and a pool
// is destroyed cleanly both while its workers spin and while they sleep.
TEST(ThreadPool, WakesSleepingWorkers) {
  for (int sleep_ms : {0, 20}) {
    ThreadPool pool(3);
    std::atomic<std::int64_t> total{0};
    for (int call = 0; call < 3; ++call) {
      std::this_thread::sleep_for(std::chrono::milliseconds(sleep_ms));
      pool.parallel_for(1000, 1, [&](std::int64_t begin, std::int64_t end) { total += end - begin; });
    }
    EXPECT_EQ(total.load(), 3000) << "pause " << sleep_ms << " ms";
  }
}

// Calls from several threads at once are serialised, and each runs only its own job.
TEST(ThreadPool, SerialisesConcurrentCallers) {
  ThreadPool pool(2);
  std::atomic<std::int64_t> totals[3] = {0, 0, 0};
  std::vector<std::thread> callers;
  for (int c = 0; c < 3; ++c) {
    callers.emplace_back([&, c] {
      for (int call = 0; call < 300; ++call) {
        pool.parallel_for(50 + c, 1, [&](std::int64_t begin, std::int64_t end) { totals[c] += end - begin; });
      }
    });
  }
  for (auto& caller : callers) caller.join();
  for (int c = 0; c < 3; ++c) EXPECT_EQ(totals[c].load(), 300 * (50 + c)) << "caller " << c;
}

}  // namespace
}  // namespace glimpse
