// A mock Hugging Face Hub for the hub tests: an HTTP/1.1 server on 127.0.0.1 with a thread per
// connection, serving the endpoints glimpse uses the way huggingface.co serves them:
//
//   GET  /api/models/{repo}/revision/{revision}   {"id", "sha", "siblings": [{"rfilename"}]}
//   HEAD|GET /{repo}/resolve/{revision}/{path}     small files: 200 with ETag = git blob id,
//                                                  X-Repo-Commit and Content-Length;
//                                                  LFS files: 302 to /cdn/{sha256} on the storage
//                                                  host, with X-Linked-Etag and X-Linked-Size
//   GET  /cdn/{sha256}                             the LFS content, with Range support
//
// Errors carry X-Error-Code (RepoNotFound, RevisionNotFound, EntryNotFound, GatedRepo) and
// X-Error-Message. Faults make chosen requests fail: a status code, a body cut short, a stall, a
// corrupted byte, an ignored Range header, changed headers, or a connection closed unanswered.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace glimpse::testing {

std::string sha256_hex(const std::string& content);
// sha1("blob <size>\0" + content), the id git gives a file's content.
std::string git_blob_id(const std::string& content);

struct MockFile {
  std::string content;
  bool lfs = false;  // served through a redirect to /cdn/<sha256>, like files stored with git LFS
};

struct MockRepo {
  std::string commit;                         // 40 hex digits
  std::map<std::string, std::string> refs;    // branch or tag -> commit; "main" is added when absent
  std::map<std::string, MockFile> files;
  bool gated = false;                         // only requests with the accepted token get access
};

struct Fault {
  enum class Kind {
    kStatus,        // respond with `status`, `headers` and a short body
    kCutBody,       // send the headers and `bytes` bytes of the body, then close
    kStall,         // send the headers and `bytes` bytes of the body, then wait `stall_ms`, then close
    kCorruptByte,   // flip the body byte at offset `bytes`
    kIgnoreRange,   // respond 200 with the whole body whatever Range requests
    kEditHeaders,   // set `headers` on the response; an empty value removes the header
    kCloseAtOnce,   // close the connection without a response
  };
  Kind kind = Kind::kStatus;
  std::string method;          // "GET", "HEAD", or empty for both
  std::string path_contains;   // the fault applies to request paths containing this
  int times = -1;              // matching requests it affects; -1 for all
  int status = 500;
  std::uint64_t bytes = 0;
  int stall_ms = 0;
  std::map<std::string, std::string> headers;
};

// Faults, by kind; `method` and `path_contains` choose the requests, `times` how many (-1: all).
Fault status_fault(const std::string& method, const std::string& path_contains, int status, int times,
                   std::map<std::string, std::string> headers = {});
Fault cut_fault(const std::string& method, const std::string& path_contains, std::uint64_t bytes, int times);
Fault stall_fault(const std::string& method, const std::string& path_contains, std::uint64_t bytes, int stall_ms);
Fault corrupt_fault(const std::string& method, const std::string& path_contains, std::uint64_t offset, int times);
Fault ignore_range_fault(const std::string& method, const std::string& path_contains);
Fault header_fault(const std::string& method, const std::string& path_contains,
                   std::map<std::string, std::string> headers, int times);
Fault close_fault(const std::string& method, const std::string& path_contains, int times);

struct RecordedRequest {
  std::string method;
  std::string path;           // as sent, still percent-encoded
  std::string range;          // the Range header, or empty
  std::string authorization;  // the Authorization header, or empty
  std::string host;           // the Host header
};

class MockHub {
 public:
  MockHub();
  ~MockHub();
  MockHub(const MockHub&) = delete;
  MockHub& operator=(const MockHub&) = delete;

  // "http://127.0.0.1:<port>".
  std::string endpoint() const;
  int port() const { return port_; }

  void add_repo(const std::string& repo_id, MockRepo repo);
  // Requests for `old_id` get a relative redirect to `new_id`, as for a renamed repository.
  void add_rename(const std::string& old_id, const std::string& new_id);
  void add_fault(Fault fault);
  // The token that opens gated repositories.
  void set_accepted_token(const std::string& token);
  // LFS redirects point to http://<host>:<port>/cdn/...; "localhost" makes the storage host
  // differ from the endpoint host while staying on this machine.
  void set_storage_host(const std::string& host);
  // Pauses between 64 KiB body chunks, to keep transfers in flight for concurrency tests.
  void set_chunk_delay_ms(int delay_ms);

  std::vector<RecordedRequest> requests() const;
  // Requests whose method is `method` (empty for any) and whose path contains `path_part`.
  int count(const std::string& method, const std::string& path_part) const;

 private:
  struct Answer;
  void accept_loop();
  void serve(int fd);
  Answer route(const std::string& method, const std::string& path, const std::string& authorization,
               const std::string& range);
  Answer api_answer(const std::string& rest, const std::string& authorization);
  Answer resolve_answer(const std::string& repo_id, const std::string& rest, const std::string& authorization,
                        bool head);
  Answer cdn_answer(const std::string& sha, const std::string& range);
  bool take_fault(const std::string& method, const std::string& path, Fault& fault);
  void sleep_unless_stopped(int milliseconds);

  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread accept_thread_;

  mutable std::mutex mutex_;
  std::condition_variable stop_signal_;
  std::vector<std::thread> connection_threads_;
  std::vector<int> open_fds_;
  std::map<std::string, MockRepo> repos_;
  std::map<std::string, std::string> renames_;
  std::vector<Fault> faults_;
  std::vector<RecordedRequest> requests_;
  std::string accepted_token_;
  std::string storage_host_ = "127.0.0.1";
  int chunk_delay_ms_ = 0;
};

// The tiny-llava fixture folder (tests/data/tiny-llava/model-f16) as a repository:
// model.safetensors is an LFS file, the rest are small git files.
MockRepo tiny_llava_repo();

}  // namespace glimpse::testing
