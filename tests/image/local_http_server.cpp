#include "image/local_http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <stdexcept>

namespace glimpse::image_testing {
namespace {

sockaddr_in loopback(int port) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return address;
}

void send_all(int fd, const std::string& data) {
  std::size_t sent = 0;
  while (sent < data.size()) {
    const ssize_t n = ::send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return;  // the client went away, which timeout tests cause on purpose
    sent += static_cast<std::size_t>(n);
  }
}

std::string reason_phrase(int status) {
  switch (status) {
    case 200: return "OK";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 404: return "Not Found";
    case 500: return "Internal Server Error";
    default: return "Status";
  }
}

}  // namespace

LocalHttpServer::LocalHttpServer() {
  listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
  if (listener_ < 0) throw std::runtime_error("socket() failed");
  sockaddr_in address = loopback(0);
  socklen_t length = sizeof(address);
  if (::bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
      ::listen(listener_, 16) != 0 || ::getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    ::close(listener_);
    throw std::runtime_error("cannot listen on 127.0.0.1");
  }
  port_ = ntohs(address.sin_port);
  acceptor_ = std::thread([this] { accept_loop(); });
}

LocalHttpServer::~LocalHttpServer() {
  stopping_ = true;
  acceptor_.join();
  ::close(listener_);
  std::vector<std::thread> handlers;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    handlers.swap(handlers_);
  }
  for (std::thread& handler : handlers) handler.join();
}

void LocalHttpServer::add(const std::string& path, HttpResponse response) {
  std::lock_guard<std::mutex> lock(mutex_);
  routes_[path] = std::move(response);
}

std::string LocalHttpServer::url(const std::string& path) const {
  return "http://127.0.0.1:" + std::to_string(port_) + path;
}

std::vector<std::string> LocalHttpServer::requests() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return requests_;
}

void LocalHttpServer::accept_loop() {
  while (!stopping_) {
    pollfd poll_fd{listener_, POLLIN, 0};
    if (::poll(&poll_fd, 1, 20) <= 0) continue;
    const int connection = ::accept(listener_, nullptr, nullptr);
    if (connection < 0) continue;
    std::lock_guard<std::mutex> lock(mutex_);
    handlers_.emplace_back([this, connection] {
      serve(connection);
      ::close(connection);
    });
  }
}

void LocalHttpServer::serve(int connection) {
  // Read the request head: "GET <path> HTTP/1.1" and headers up to an empty line.
  std::string request;
  char buffer[4096];
  while (request.find("\r\n\r\n") == std::string::npos && request.size() < 65536 && !stopping_) {
    pollfd poll_fd{connection, POLLIN, 0};
    if (::poll(&poll_fd, 1, 20) <= 0) continue;
    const ssize_t n = ::recv(connection, buffer, sizeof(buffer), 0);
    if (n <= 0) return;
    request.append(buffer, static_cast<std::size_t>(n));
  }
  const std::size_t path_begin = request.find(' ');
  const std::size_t path_end = path_begin == std::string::npos ? path_begin : request.find(' ', path_begin + 1);
  if (path_end == std::string::npos) return;
  const std::string path = request.substr(path_begin + 1, path_end - path_begin - 1);

  HttpResponse response;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    requests_.push_back(path);
    const auto route = routes_.find(path);
    if (route != routes_.end()) {
      response = route->second;
    } else {
      response.status = 404;
      response.content_type = "text/plain";
      response.body = "no route " + path;
    }
  }

  std::string head = "HTTP/1.1 " + std::to_string(response.status) + " " + reason_phrase(response.status) + "\r\n";
  head += "Content-Type: " + response.content_type + "\r\n";
  if (!response.location.empty()) head += "Location: " + response.location + "\r\n";
  if (response.send_length) head += "Content-Length: " + std::to_string(response.body.size()) + "\r\n";
  head += "Connection: close\r\n\r\n";
  send_all(connection, head);

  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(response.delay_before_body_ms);
  while (std::chrono::steady_clock::now() < deadline && !stopping_) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (!stopping_) send_all(connection, response.body);
}

int unused_local_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address = loopback(0);
  socklen_t length = sizeof(address);
  ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address));
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  ::close(fd);
  return ntohs(address.sin_port);
}

}  // namespace glimpse::image_testing
