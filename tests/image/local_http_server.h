// A small HTTP/1.1 server on 127.0.0.1 for URL tests: fixed routes, one thread per connection,
// every response closes its connection. It binds an ephemeral port, so tests can run in parallel.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace glimpse::image_testing {

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/octet-stream";
  std::string body;
  std::string location;         // sent as a Location header when not empty
  bool send_length = true;      // false: no Content-Length, the body ends when the connection closes
  int delay_before_body_ms = 0; // sleep after the headers, before the body
};

class LocalHttpServer {
 public:
  LocalHttpServer();  // starts listening; throws std::runtime_error when it cannot
  ~LocalHttpServer();
  LocalHttpServer(const LocalHttpServer&) = delete;
  LocalHttpServer& operator=(const LocalHttpServer&) = delete;

  void add(const std::string& path, HttpResponse response);
  std::string url(const std::string& path) const;
  int port() const { return port_; }
  // Paths requested so far, in order.
  std::vector<std::string> requests() const;

 private:
  void accept_loop();
  void serve(int connection);

  int listener_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread acceptor_;
  mutable std::mutex mutex_;
  std::map<std::string, HttpResponse> routes_;
  std::vector<std::string> requests_;
  std::vector<std::thread> handlers_;
};

// A port on 127.0.0.1 with nothing listening (bound, then closed).
int unused_local_port();

}  // namespace glimpse::image_testing
