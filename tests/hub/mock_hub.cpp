#include "hub/mock_hub.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstring>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "support/test_support.h"

namespace glimpse::testing {
namespace {

std::string digest_hex(const EVP_MD* algorithm, const std::string& data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(data.data(), data.size(), digest, &length, algorithm, nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  for (unsigned int i = 0; i < length; ++i) {
    hex += kHex[digest[i] >> 4];
    hex += kHex[digest[i] & 0xf];
  }
  return hex;
}

std::string percent_decode(const std::string& text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size() && std::isxdigit(static_cast<unsigned char>(text[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(text[i + 2]))) {
      out += static_cast<char>(std::stoi(text.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else {
      out += text[i];
    }
  }
  return out;
}

std::string lowercase(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::tolower(c); });
  return text;
}

const char* reason_phrase(int status) {
  switch (status) {
    case 200: return "OK";
    case 206: return "Partial Content";
    case 302: return "Found";
    case 307: return "Temporary Redirect";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 416: return "Range Not Satisfiable";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "Status";
  }
}

bool send_all(int fd, const char* data, std::size_t size) {
  while (size > 0) {
    const ssize_t sent = send(fd, data, size, MSG_NOSIGNAL);
    if (sent < 0 && errno == EINTR) continue;
    if (sent <= 0) return false;
    data += sent;
    size -= static_cast<std::size_t>(sent);
  }
  return true;
}

}  // namespace

std::string sha256_hex(const std::string& content) { return digest_hex(EVP_sha256(), content); }

std::string git_blob_id(const std::string& content) {
  std::string object = "blob " + std::to_string(content.size());
  object.push_back('\0');
  object += content;
  return digest_hex(EVP_sha1(), object);
}

struct MockHub::Answer {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::uint64_t body_offset = 0;  // where `body` starts in the file, for corrupting the right byte

  void set_header(const std::string& name, const std::string& value) {
    for (auto& [key, existing] : headers) {
      if (lowercase(key) == lowercase(name)) {
        existing = value;
        return;
      }
    }
    headers.emplace_back(name, value);
  }
  void remove_header(const std::string& name) {
    headers.erase(std::remove_if(headers.begin(), headers.end(),
                                 [&](const auto& header) { return lowercase(header.first) == lowercase(name); }),
                  headers.end());
  }
};

MockHub::MockHub() {
  listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) throw std::runtime_error("mock hub: socket() failed");
  const int reuse = 1;
  setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &reuse, sizeof(reuse));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 || listen(listen_fd_, 64) != 0) {
    close(listen_fd_);
    throw std::runtime_error("mock hub: cannot listen on 127.0.0.1");
  }
  socklen_t length = sizeof(address);
  getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&address), &length);
  port_ = ntohs(address.sin_port);
  accept_thread_ = std::thread([this] { accept_loop(); });
}

MockHub::~MockHub() {
  stopping_ = true;
  stop_signal_.notify_all();
  shutdown(listen_fd_, SHUT_RDWR);
  close(listen_fd_);
  if (accept_thread_.joinable()) accept_thread_.join();
  std::vector<std::thread> threads;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (int fd : open_fds_) shutdown(fd, SHUT_RDWR);
    threads.swap(connection_threads_);
  }
  for (std::thread& thread : threads) thread.join();
}

std::string MockHub::endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }

void MockHub::add_repo(const std::string& repo_id, MockRepo repo) {
  if (repo.refs.count("main") == 0) repo.refs["main"] = repo.commit;
  std::lock_guard<std::mutex> lock(mutex_);
  repos_[repo_id] = std::move(repo);
}

void MockHub::add_rename(const std::string& old_id, const std::string& new_id) {
  std::lock_guard<std::mutex> lock(mutex_);
  renames_[old_id] = new_id;
}

void MockHub::add_fault(Fault fault) {
  std::lock_guard<std::mutex> lock(mutex_);
  faults_.push_back(std::move(fault));
}

void MockHub::set_accepted_token(const std::string& token) {
  std::lock_guard<std::mutex> lock(mutex_);
  accepted_token_ = token;
}

void MockHub::set_storage_host(const std::string& host) {
  std::lock_guard<std::mutex> lock(mutex_);
  storage_host_ = host;
}

void MockHub::set_chunk_delay_ms(int delay_ms) {
  std::lock_guard<std::mutex> lock(mutex_);
  chunk_delay_ms_ = delay_ms;
}

std::vector<RecordedRequest> MockHub::requests() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return requests_;
}

int MockHub::count(const std::string& method, const std::string& path_part) const {
  std::lock_guard<std::mutex> lock(mutex_);
  return static_cast<int>(std::count_if(requests_.begin(), requests_.end(), [&](const RecordedRequest& request) {
    return (method.empty() || request.method == method) && request.path.find(path_part) != std::string::npos;
  }));
}

void MockHub::accept_loop() {
  while (!stopping_) {
    const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (stopping_) return;
      continue;
    }
    std::lock_guard<std::mutex> lock(mutex_);
    open_fds_.push_back(fd);
    connection_threads_.emplace_back([this, fd] { serve(fd); });
  }
}

void MockHub::sleep_unless_stopped(int milliseconds) {
  std::unique_lock<std::mutex> lock(mutex_);
  stop_signal_.wait_for(lock, std::chrono::milliseconds(milliseconds), [this] { return stopping_.load(); });
}

bool MockHub::take_fault(const std::string& method, const std::string& path, Fault& fault) {
  std::lock_guard<std::mutex> lock(mutex_);
  for (Fault& candidate : faults_) {
    if (candidate.times == 0) continue;
    if (!candidate.method.empty() && candidate.method != method) continue;
    if (path.find(candidate.path_contains) == std::string::npos) continue;
    if (candidate.times > 0) --candidate.times;
    fault = candidate;
    return true;
  }
  return false;
}

void MockHub::serve(int fd) {
  timeval timeout{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  std::string request;
  char buffer[4096];
  while (request.find("\r\n\r\n") == std::string::npos && request.size() < 65536) {
    const ssize_t got = recv(fd, buffer, sizeof(buffer), 0);
    if (got <= 0) break;
    request.append(buffer, static_cast<std::size_t>(got));
  }
  const auto finish = [&] {
    std::lock_guard<std::mutex> lock(mutex_);
    open_fds_.erase(std::remove(open_fds_.begin(), open_fds_.end(), fd), open_fds_.end());
    close(fd);
  };
  const std::size_t line_end = request.find("\r\n");
  if (line_end == std::string::npos) return finish();

  // Request line and headers.
  const std::string line = request.substr(0, line_end);
  const std::size_t first_space = line.find(' ');
  const std::size_t second_space = line.find(' ', first_space + 1);
  RecordedRequest recorded;
  recorded.method = line.substr(0, first_space);
  recorded.path = line.substr(first_space + 1, second_space - first_space - 1);
  std::size_t position = line_end + 2;
  while (position < request.size()) {
    const std::size_t end = request.find("\r\n", position);
    if (end == std::string::npos || end == position) break;
    const std::string header = request.substr(position, end - position);
    const std::size_t colon = header.find(':');
    if (colon != std::string::npos) {
      const std::string name = lowercase(header.substr(0, colon));
      std::string value = header.substr(colon + 1);
      value.erase(0, value.find_first_not_of(' '));
      if (name == "range") recorded.range = value;
      if (name == "authorization") recorded.authorization = value;
      if (name == "host") recorded.host = value;
    }
    position = end + 2;
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    requests_.push_back(recorded);
  }

  // Faults, then the regular response.
  Fault fault;
  const bool faulty = take_fault(recorded.method, recorded.path, fault);
  if (faulty && fault.kind == Fault::Kind::kCloseAtOnce) return finish();
  Answer answer;
  if (faulty && fault.kind == Fault::Kind::kStatus) {
    answer.status = fault.status;
    answer.body = "fault injected by the mock hub";
    for (const auto& [name, value] : fault.headers) answer.set_header(name, value);
  } else {
    const bool ignore_range = faulty && fault.kind == Fault::Kind::kIgnoreRange;
    answer = route(recorded.method, recorded.path, recorded.authorization, ignore_range ? "" : recorded.range);
  }
  if (faulty && fault.kind == Fault::Kind::kEditHeaders) {
    for (const auto& [name, value] : fault.headers) {
      if (value.empty()) {
        answer.remove_header(name);
      } else {
        answer.set_header(name, value);
      }
    }
  }
  if (faulty && fault.kind == Fault::Kind::kCorruptByte && fault.bytes >= answer.body_offset &&
      fault.bytes - answer.body_offset < answer.body.size()) {
    answer.body[fault.bytes - answer.body_offset] ^= 0x5a;
  }

  std::string head = "HTTP/1.1 " + std::to_string(answer.status) + " " + reason_phrase(answer.status) + "\r\n";
  bool has_length = false;
  for (const auto& [name, value] : answer.headers) {
    head += name + ": " + value + "\r\n";
    if (lowercase(name) == "content-length") has_length = true;
  }
  if (!has_length) head += "Content-Length: " + std::to_string(answer.body.size()) + "\r\n";
  head += "Connection: close\r\n\r\n";
  if (!send_all(fd, head.data(), head.size()) || recorded.method == "HEAD") return finish();

  std::size_t limit = answer.body.size();
  const bool cut = faulty && (fault.kind == Fault::Kind::kCutBody || fault.kind == Fault::Kind::kStall);
  if (cut) limit = std::min<std::size_t>(limit, fault.bytes);
  int chunk_delay_ms = 0;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    chunk_delay_ms = chunk_delay_ms_;
  }
  constexpr std::size_t kChunk = 64 * 1024;
  for (std::size_t sent = 0; sent < limit && !stopping_;) {
    const std::size_t size = std::min(kChunk, limit - sent);
    if (!send_all(fd, answer.body.data() + sent, size)) break;
    sent += size;
    if (chunk_delay_ms > 0 && sent < limit) sleep_unless_stopped(chunk_delay_ms);
  }
  if (faulty && fault.kind == Fault::Kind::kStall) sleep_unless_stopped(fault.stall_ms);
  finish();
}

MockHub::Answer MockHub::route(const std::string& method, const std::string& raw_path,
                               const std::string& authorization, const std::string& range) {
  const std::string path = raw_path.substr(0, raw_path.find('?'));
  if (path.rfind("/api/models/", 0) == 0) return api_answer(path.substr(12), authorization);
  if (path.rfind("/cdn/", 0) == 0) return cdn_answer(path.substr(5), range);
  const std::size_t resolve = path.find("/resolve/");
  if (resolve != std::string::npos && path.size() > 1) {
    Answer answer = resolve_answer(path.substr(1, resolve - 1), path.substr(resolve + 9), authorization,
                                   method == "HEAD");
    // Small files honour Range too, as the Hub does.
    if (answer.status == 200 && !range.empty() && method == "GET") {
      const std::uint64_t start = std::stoull(range.substr(6));
      if (start >= answer.body.size()) {
        answer.status = 416;
        answer.body.clear();
      } else {
        answer.status = 206;
        answer.set_header("Content-Range", "bytes " + std::to_string(start) + "-" +
                                               std::to_string(answer.body.size() - 1) + "/" +
                                               std::to_string(answer.body.size()));
        answer.body = answer.body.substr(start);
        answer.body_offset = start;
        answer.remove_header("Content-Length");
      }
    }
    return answer;
  }
  Answer answer;
  answer.status = 404;
  answer.body = "no such route";
  return answer;
}

MockHub::Answer MockHub::api_answer(const std::string& rest, const std::string& authorization) {
  Answer answer;
  const std::size_t marker = rest.find("/revision/");
  if (marker == std::string::npos) {
    answer.status = 404;
    return answer;
  }
  const std::string repo_id = rest.substr(0, marker);
  const std::string revision = percent_decode(rest.substr(marker + 10));

  std::lock_guard<std::mutex> lock(mutex_);
  if (renames_.count(repo_id) != 0) {
    answer.status = 307;
    answer.set_header("Location", "/api/models/" + renames_[repo_id] + "/revision/" + rest.substr(marker + 10));
    return answer;
  }
  const auto repo = repos_.find(repo_id);
  const bool authenticated = !authorization.empty();
  if (repo == repos_.end()) {
    // The Hub responds 401 without a token, so that private names do not leak, and 404 with one.
    answer.status = authenticated ? 404 : 401;
    answer.set_header("X-Error-Code", "RepoNotFound");
    answer.set_header("X-Error-Message", authenticated ? "Repository not found" : "Invalid username or password.");
    return answer;
  }
  if (repo->second.gated && authorization != "Bearer " + accepted_token_) {
    answer.status = authenticated ? 403 : 401;
    answer.set_header("X-Error-Code", "GatedRepo");
    answer.set_header("X-Error-Message", "Access to model " + repo_id + " is restricted.");
    return answer;
  }

  std::string commit;
  if (repo->second.refs.count(revision) != 0) {
    commit = repo->second.refs.at(revision);
  } else {
    for (const auto& [name, target] : repo->second.refs) {
      if (target == revision) commit = target;
    }
  }
  if (commit.empty()) {
    answer.status = 404;
    answer.set_header("X-Error-Code", "RevisionNotFound");
    answer.set_header("X-Error-Message", "Invalid rev id: " + revision);
    return answer;
  }

  nlohmann::json body = {{"_id", "mock"}, {"id", repo_id}, {"modelId", repo_id}, {"sha", commit}, {"private", false}};
  body["siblings"] = nlohmann::json::array();
  for (const auto& [name, file] : repo->second.files) body["siblings"].push_back({{"rfilename", name}});
  answer.body = body.dump();
  answer.set_header("Content-Type", "application/json");
  return answer;
}

MockHub::Answer MockHub::resolve_answer(const std::string& repo_id, const std::string& rest,
                                        const std::string& authorization, bool head) {
  Answer answer;
  const std::size_t slash = rest.find('/');
  const std::string revision = percent_decode(rest.substr(0, slash));
  const std::string file_path = slash == std::string::npos ? "" : percent_decode(rest.substr(slash + 1));
  std::lock_guard<std::mutex> lock(mutex_);
  if (renames_.count(repo_id) != 0) {
    answer.status = 307;
    answer.set_header("Location", "/" + renames_[repo_id] + "/resolve/" + rest);
    return answer;
  }
  const auto repo = repos_.find(repo_id);
  const bool authenticated = !authorization.empty();
  if (repo == repos_.end()) {
    answer.status = authenticated ? 404 : 401;
    answer.set_header("X-Error-Code", "RepoNotFound");
    answer.set_header("X-Error-Message", "Repository not found");
    return answer;
  }
  if (repo->second.gated && authorization != "Bearer " + accepted_token_) {
    answer.status = authenticated ? 403 : 401;
    answer.set_header("X-Error-Code", "GatedRepo");
    answer.set_header("X-Error-Message", "Access to model " + repo_id + " is restricted.");
    return answer;
  }
  std::string commit;
  if (repo->second.refs.count(revision) != 0) commit = repo->second.refs.at(revision);
  for (const auto& [name, target] : repo->second.refs) {
    if (target == revision) commit = target;
  }
  if (commit.empty()) {
    answer.status = 404;
    answer.set_header("X-Error-Code", "RevisionNotFound");
    return answer;
  }
  answer.set_header("X-Repo-Commit", commit);
  const auto file = repo->second.files.find(file_path);
  if (file == repo->second.files.end()) {
    answer.status = 404;
    answer.set_header("X-Error-Code", "EntryNotFound");
    answer.set_header("X-Error-Message", "Entry not found");
    return answer;
  }
  const std::string& content = file->second.content;
  if (!file->second.lfs) {
    answer.set_header("ETag", "\"" + git_blob_id(content) + "\"");
    answer.set_header("Accept-Ranges", "bytes");
    answer.body = content;
    return answer;
  }
  const std::string sha = sha256_hex(content);
  const std::string pointer = "version https://git-lfs.github.com/spec/v1\noid sha256:" + sha + "\nsize " +
                              std::to_string(content.size()) + "\n";
  answer.status = 302;
  answer.set_header("ETag", "\"" + git_blob_id(pointer) + "\"");
  answer.set_header("X-Linked-Etag", "\"" + sha + "\"");
  answer.set_header("X-Linked-Size", std::to_string(content.size()));
  answer.set_header("Location", "http://" + storage_host_ + ":" + std::to_string(port_) + "/cdn/" + sha);
  answer.body = head ? "" : "Found. Redirecting to the storage host";
  return answer;
}

MockHub::Answer MockHub::cdn_answer(const std::string& sha, const std::string& range) {
  Answer answer;
  std::string content;
  bool found = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (const auto& [id, repo] : repos_) {
      for (const auto& [name, file] : repo.files) {
        if (file.lfs && sha256_hex(file.content) == sha) {
          content = file.content;
          found = true;
        }
      }
    }
  }
  if (!found) {
    answer.status = 404;
    return answer;
  }

  answer.set_header("ETag", "\"" + sha + "\"");
  answer.set_header("Accept-Ranges", "bytes");
  if (range.empty()) {
    answer.body = std::move(content);
    return answer;
  }

  // "bytes=<start>-" or "bytes=<start>-<end>".
  const std::size_t dash = range.find('-');
  const std::uint64_t start = std::stoull(range.substr(6, dash - 6));
  std::uint64_t end = content.size() - 1;
  if (dash + 1 < range.size()) end = std::min<std::uint64_t>(end, std::stoull(range.substr(dash + 1)));
  if (start >= content.size() || start > end) {
    answer.status = 416;
    answer.set_header("Content-Range", "bytes */" + std::to_string(content.size()));
    return answer;
  }

  answer.status = 206;
  answer.set_header("Content-Range", "bytes " + std::to_string(start) + "-" + std::to_string(end) + "/" +
                                         std::to_string(content.size()));
  answer.body = content.substr(start, end - start + 1);
  answer.body_offset = start;
  return answer;
}

namespace {

Fault make_fault(Fault::Kind kind, const std::string& method, const std::string& path_contains, int times) {
  Fault fault;
  fault.kind = kind;
  fault.method = method;
  fault.path_contains = path_contains;
  fault.times = times;
  return fault;
}

}  // namespace

Fault status_fault(const std::string& method, const std::string& path_contains, int status, int times,
                   std::map<std::string, std::string> headers) {
  Fault fault = make_fault(Fault::Kind::kStatus, method, path_contains, times);
  fault.status = status;
  fault.headers = std::move(headers);
  return fault;
}

Fault cut_fault(const std::string& method, const std::string& path_contains, std::uint64_t bytes, int times) {
  Fault fault = make_fault(Fault::Kind::kCutBody, method, path_contains, times);
  fault.bytes = bytes;
  return fault;
}

Fault stall_fault(const std::string& method, const std::string& path_contains, std::uint64_t bytes, int stall_ms) {
  Fault fault = make_fault(Fault::Kind::kStall, method, path_contains, -1);
  fault.bytes = bytes;
  fault.stall_ms = stall_ms;
  return fault;
}

Fault corrupt_fault(const std::string& method, const std::string& path_contains, std::uint64_t offset, int times) {
  Fault fault = make_fault(Fault::Kind::kCorruptByte, method, path_contains, times);
  fault.bytes = offset;
  return fault;
}

Fault ignore_range_fault(const std::string& method, const std::string& path_contains) {
  return make_fault(Fault::Kind::kIgnoreRange, method, path_contains, -1);
}

Fault header_fault(const std::string& method, const std::string& path_contains,
                   std::map<std::string, std::string> headers, int times) {
  Fault fault = make_fault(Fault::Kind::kEditHeaders, method, path_contains, times);
  fault.headers = std::move(headers);
  return fault;
}

Fault close_fault(const std::string& method, const std::string& path_contains, int times) {
  return make_fault(Fault::Kind::kCloseAtOnce, method, path_contains, times);
}

MockRepo tiny_llava_repo() {
  MockRepo repo;
  repo.commit = "0123456789abcdef0123456789abcdef01234567";
  const auto folder = test_data_dir() / "tiny-llava" / "model-f16";
  for (const char* name : {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
                           "special_tokens_map.json", "added_tokens.json", "preprocessor_config.json",
                           "chat_template.json"}) {
    const std::vector<std::uint8_t> bytes = read_bytes(folder / name);
    MockFile file;
    file.content.assign(bytes.begin(), bytes.end());
    file.lfs = std::string(name) == "model.safetensors";
    repo.files[name] = std::move(file);
  }
  return repo;
}

}  // namespace glimpse::testing
