#pragma once
// An HTTP/1.1 server on 127.0.0.1 inside the test process: it records every request (method,
// target, headers as sent, body) and answers each with what the test's handler returns, so
// tests see exactly what libcurl put on the wire and script the server's side (errors, dropped
// connections). One thread per connection, keep-alive, `Expect: 100-continue` honoured.

#include <algorithm>
#include <atomic>
#include <cstring>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace guestdump::test {

class ScriptedHttpServer {
public:
  struct Request {
    std::string method;
    std::string target; // path and query as sent
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
    /// The first value of a header (name case-insensitive), empty if absent.
    std::string header(std::string_view name) const {
      for (const auto& [k, v] : headers) {
        if (strcasecmp(k.c_str(), std::string(name).c_str()) == 0) return v;
      }
      return {};
    }
    int count(std::string_view name) const {
      return static_cast<int>(std::count_if(headers.begin(), headers.end(), [&](const auto& kv) {
        return strcasecmp(kv.first.c_str(), std::string(name).c_str()) == 0;
      }));
    }
  };
  struct Reply {
    int status = 200;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
    bool drop = false; // close the connection without answering
  };
  using Handler = std::function<Reply(const Request&)>;

  explicit ScriptedHttpServer(Handler handler) : handler_(std::move(handler)) {
    listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
        listen(listen_fd_, 64) != 0 ||
        getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      throw std::runtime_error("scripted server: cannot listen on 127.0.0.1");
    }
    port_ = ntohs(addr.sin_port);
    acceptor_ = std::thread([this] { accept_loop(); });
  }
  ~ScriptedHttpServer() {
    stop_ = true;
    shutdown(listen_fd_, SHUT_RDWR);
    acceptor_.join();
    {
      std::lock_guard lock(mutex_);
      for (int fd : open_fds_) shutdown(fd, SHUT_RDWR);
    }
    for (auto& t : connections_) t.join();
    close(listen_fd_);
  }
  ScriptedHttpServer(const ScriptedHttpServer&) = delete;
  ScriptedHttpServer& operator=(const ScriptedHttpServer&) = delete;

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::vector<Request> requests() const {
    std::lock_guard lock(mutex_);
    return requests_;
  }

private:
  void accept_loop() {
    while (!stop_) {
      int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) {
        if (stop_) return;
        continue;
      }
      std::lock_guard lock(mutex_);
      open_fds_.push_back(fd);
      connections_.emplace_back([this, fd] { serve(fd); });
    }
  }

  static bool send_all(int fd, const std::string& data) {
    std::size_t off = 0;
    while (off < data.size()) {
      ssize_t n = send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return false;
      off += static_cast<std::size_t>(n);
    }
    return true;
  }

  void serve(int fd) {
    std::string buffer;
    char chunk[65536];
    auto fill = [&]() {
      ssize_t n = recv(fd, chunk, sizeof chunk, 0);
      if (n <= 0) return false;
      buffer.append(chunk, static_cast<std::size_t>(n));
      return true;
    };
    for (;;) {
      std::size_t end;
      while ((end = buffer.find("\r\n\r\n")) == std::string::npos) {
        if (!fill()) return finish(fd);
      }
      Request request;
      std::string head = buffer.substr(0, end);
      buffer.erase(0, end + 4);
      std::size_t line_end = head.find("\r\n");
      std::string start = head.substr(0, line_end);
      auto sp1 = start.find(' '), sp2 = start.rfind(' ');
      request.method = start.substr(0, sp1);
      request.target = start.substr(sp1 + 1, sp2 - sp1 - 1);
      while (line_end != std::string::npos) {
        std::size_t next = head.find("\r\n", line_end + 2);
        std::string line = head.substr(
            line_end + 2, next == std::string::npos ? std::string::npos : next - line_end - 2);
        line_end = next;
        auto colon = line.find(':');
        if (colon == std::string::npos) continue;
        std::string value = line.substr(colon + 1);
        value.erase(0, value.find_first_not_of(' '));
        request.headers.emplace_back(line.substr(0, colon), value);
      }
      std::size_t length = 0;
      if (auto cl = request.header("Content-Length"); !cl.empty()) length = std::stoul(cl);
      if (strcasecmp(request.header("Expect").c_str(), "100-continue") == 0) {
        if (!send_all(fd, "HTTP/1.1 100 Continue\r\n\r\n")) return finish(fd);
      }
      while (buffer.size() < length) {
        if (!fill()) return finish(fd);
      }
      request.body = buffer.substr(0, length);
      buffer.erase(0, length);
      {
        std::lock_guard lock(mutex_);
        requests_.push_back(request);
      }
      Reply reply = handler_(request);
      if (reply.drop) return finish(fd);
      std::string out = "HTTP/1.1 " + std::to_string(reply.status) + " Scripted\r\n";
      for (const auto& [k, v] : reply.headers) out += k + ": " + v + "\r\n";
      out += "Content-Length: " + std::to_string(reply.body.size()) + "\r\n\r\n";
      if (request.method != "HEAD") out += reply.body;
      if (!send_all(fd, out)) return finish(fd);
    }
  }

  void finish(int fd) {
    std::lock_guard lock(mutex_);
    open_fds_.erase(std::find(open_fds_.begin(), open_fds_.end(), fd));
    close(fd);
  }

  Handler handler_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  mutable std::mutex mutex_;
  std::vector<Request> requests_;
  std::vector<int> open_fds_;
  std::vector<std::thread> connections_;
  std::thread acceptor_;
};

} // namespace guestdump::test
