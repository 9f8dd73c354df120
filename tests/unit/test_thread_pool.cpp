#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>
#include <utility>
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

// Ranges contain at least min_chunk items, except the one that ends at n, and cover [0, n) once.
TEST(ThreadPool, RangesRespectMinChunk) {
  ThreadPool pool(3);
  for (std::int64_t min_chunk : {1, 7, 64}) {
    for (std::int64_t n : {5, 100, 1001, 65536}) {
      std::mutex mutex;
      std::vector<std::pair<std::int64_t, std::int64_t>> ranges;
      pool.parallel_for(n, min_chunk, [&](std::int64_t begin, std::int64_t end) {
        std::lock_guard<std::mutex> lock(mutex);
        ranges.emplace_back(begin, end);
      });
      std::sort(ranges.begin(), ranges.end());
      std::int64_t next = 0;
      for (const auto& [begin, end] : ranges) {
        ASSERT_EQ(begin, next) << "n=" << n << " min_chunk=" << min_chunk;
        ASSERT_GT(end, begin);
        if (end != n) {
          EXPECT_GE(end - begin, min_chunk) << "n=" << n << " range " << begin << "-" << end;
        }
        next = end;
      }
      EXPECT_EQ(next, n);
    }
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
