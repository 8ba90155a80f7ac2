#pragma once
// A scripted QMP peer for unit tests: one end of a socketpair, driven by a thread that plays a
// list of steps (send bytes, expect a command, reply, send an event, close). The test hands the
// other end to qmp::Client::from_fd. Failures inside the script are collected and checked by
// finish(), since gtest assertions cannot stop another thread.

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <exception>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <guestdump/common/unique_fd.h>

namespace guestdump::qmp::test {

using Json = nlohmann::json;

inline std::string greeting_line() {
  return R"({"QMP": {"version": {"qemu": {"micro": 22, "minor": 2, "major": 7}, )"
         R"("package": "Debian 1:7.2+dfsg-7+deb12u18+b3"}, "capabilities": ["oob"]}})"
         "\r\n";
}
inline std::string reply_line(const std::string& id, const Json& value) {
  return Json{{"return", value}, {"id", id}}.dump() + "\r\n";
}
inline std::string error_line(const std::string& id, const std::string& cls,
                              const std::string& desc) {
  return Json{{"error", {{"class", cls}, {"desc", desc}}}, {"id", id}}.dump() + "\r\n";
}
inline std::string event_line(const std::string& name, const Json& data = Json::object()) {
  return Json{{"event", name},
              {"data", data},
              {"timestamp", {{"seconds", 1700000000}, {"microseconds", 123456}}}}
             .dump() +
         "\r\n";
}

class FakeQmpServer {
public:
  /// What expect() saw: the parsed command and the descriptors that came with it.
  struct Received {
    Json message;
    std::vector<UniqueFd> fds;
  };
  using Check = std::function<void(Received&)>;
  using Step = std::function<bool(FakeQmpServer&)>; // false stops the script

  FakeQmpServer() {
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
      ADD_FAILURE() << "socketpair: " << std::strerror(errno);
      return;
    }
    server_.reset(sv[0]);
    client_.reset(sv[1]);
  }
  ~FakeQmpServer() {
    if (thread_.joinable()) {
      // Wakes a script still waiting for input without closing the fd under its feet.
      ::shutdown(server_.get(), SHUT_RDWR);
      release();
      thread_.join();
    }
  }

  UniqueFd take_client_fd() { return std::move(client_); }

  // --- script building ------------------------------------------------------------------------
  FakeQmpServer& step(Step s) {
    steps_.push_back(std::move(s));
    return *this;
  }
  /// One write(2) of `bytes`.
  FakeQmpServer& send(std::string bytes) {
    return step([b = std::move(bytes)](FakeQmpServer& s) { return s.write_bytes(b); });
  }
  /// One write of whatever `make(last_id)` returns (replies built with the id just received).
  FakeQmpServer& send_with_id(std::function<std::string(const std::string&)> make) {
    return step([m = std::move(make)](FakeQmpServer& s) { return s.write_bytes(m(s.last_id())); });
  }
  /// `bytes` in writes of `chunk` bytes with a pause between them, so that the client's reads
  /// see the pieces separately.
  FakeQmpServer& send_split(std::string bytes, std::size_t chunk = 1) {
    return step([b = std::move(bytes), chunk](FakeQmpServer& s) {
      for (std::size_t i = 0; i < b.size(); i += chunk) {
        if (!s.write_bytes(b.substr(i, chunk))) return false;
        std::this_thread::sleep_for(std::chrono::microseconds(300));
      }
      return true;
    });
  }
  /// send_split() of whatever `make(last_id)` returns.
  FakeQmpServer& send_split_with_id(std::function<std::string(const std::string&)> make,
                                    std::size_t chunk = 1) {
    return step([m = std::move(make), chunk](FakeQmpServer& s) {
      std::string b = m(s.last_id());
      for (std::size_t i = 0; i < b.size(); i += chunk) {
        if (!s.write_bytes(b.substr(i, chunk))) return false;
        std::this_thread::sleep_for(std::chrono::microseconds(300));
      }
      return true;
    });
  }
  FakeQmpServer& greet() { return send(greeting_line()); }
  /// Reads one command line and checks that it executes `command`.
  FakeQmpServer& expect(std::string command, Check check = {}) {
    return step([c = std::move(command), ch = std::move(check)](FakeQmpServer& s) {
      return s.read_command(c, ch);
    });
  }
  FakeQmpServer& reply(Json value = Json::object()) {
    return send_with_id(
        [v = std::move(value)](const std::string& id) { return reply_line(id, v); });
  }
  FakeQmpServer& reply_error(std::string cls, std::string desc) {
    return send_with_id([c = std::move(cls), d = std::move(desc)](const std::string& id) {
      return error_line(id, c, d);
    });
  }
  FakeQmpServer& event(std::string name, Json data = Json::object()) {
    return send(event_line(name, data));
  }
  FakeQmpServer& pause(std::chrono::milliseconds ms) {
    return step([ms](FakeQmpServer&) {
      std::this_thread::sleep_for(ms);
      return true;
    });
  }
  /// Blocks the script until the test calls release().
  FakeQmpServer& wait_release() {
    return step([](FakeQmpServer& s) {
      std::unique_lock lock(s.mutex_);
      s.cv_.wait_for(lock, std::chrono::seconds(10), [&] { return s.released_; });
      s.released_ = false;
      return true;
    });
  }
  FakeQmpServer& close() {
    return step([](FakeQmpServer& s) {
      ::shutdown(s.server_.get(), SHUT_RDWR); // the client reads EOF; the fd stays ours
      return true;
    });
  }
  /// Greeting plus the capabilities handshake.
  FakeQmpServer& negotiate() { return greet().expect("qmp_capabilities").reply(); }

  // --- running --------------------------------------------------------------------------------
  void start() {
    thread_ = std::thread([this] {
      for (auto& s : steps_) {
        if (!s(*this)) {
          ::shutdown(server_.get(), SHUT_RDWR); // a failed script hangs up on the client
          return;
        }
      }
      done_ = true;
    });
  }
  void release() {
    std::lock_guard lock(mutex_);
    released_ = true;
    cv_.notify_all();
  }
  /// Joins the script and reports every failure it recorded.
  void finish() {
    if (thread_.joinable()) thread_.join();
    std::lock_guard lock(mutex_);
    for (const auto& f : failures_) ADD_FAILURE() << "fake QMP server: " << f;
    EXPECT_TRUE(done_) << "fake QMP server script did not run to its end";
  }
  std::string last_id() {
    std::lock_guard lock(mutex_);
    return ids_.empty() ? std::string() : ids_.back();
  }
  std::vector<Json> commands() {
    std::lock_guard lock(mutex_);
    return commands_;
  }
  std::size_t writes() const { return writes_; }

  /// One write of `bytes` from inside a step.
  bool write_bytes(const std::string& bytes) {
    std::size_t done = 0;
    while (done < bytes.size()) {
      ssize_t n = ::send(server_.get(), bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        fail(std::string("write: ") + std::strerror(errno));
        return false;
      }
      done += static_cast<std::size_t>(n);
    }
    ++writes_;
    return true;
  }

private:
  void fail(std::string what) {
    std::lock_guard lock(mutex_);
    failures_.push_back(std::move(what));
  }

  // Reads up to the next newline with recvmsg, collecting SCM_RIGHTS descriptors.
  bool read_command(const std::string& command, const Check& check) {
    Received got;
    std::size_t nl;
    while ((nl = in_.find('\n')) == std::string::npos) {
      pollfd p{server_.get(), POLLIN, 0};
      int rc = ::poll(&p, 1, 5000);
      if (rc < 0 && errno == EINTR) continue;
      if (rc <= 0) {
        fail("no '" + command + "' command within 5 s");
        return false;
      }
      char buf[4096];
      char control[CMSG_SPACE(sizeof(int) * 8)];
      iovec iov{buf, sizeof(buf)};
      msghdr msg{};
      msg.msg_iov = &iov;
      msg.msg_iovlen = 1;
      msg.msg_control = control;
      msg.msg_controllen = sizeof(control);
      ssize_t n = ::recvmsg(server_.get(), &msg, MSG_CMSG_CLOEXEC);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        fail("client closed before '" + command + "'");
        return false;
      }
      for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
          std::size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
          for (std::size_t i = 0; i < count; ++i) {
            int fd;
            std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
            got.fds.emplace_back(fd);
          }
        }
      }
      in_.append(buf, static_cast<std::size_t>(n));
    }
    std::string line = in_.substr(0, nl);
    in_.erase(0, nl + 1);
    got.message = Json::parse(line, nullptr, false);
    if (got.message.is_discarded() || !got.message.is_object()) {
      fail("client sent malformed JSON: " + line);
      return false;
    }
    auto exec = got.message.find("execute");
    if (exec == got.message.end() || *exec != command) {
      fail("expected '" + command + "', got " + line);
      return false;
    }
    {
      std::lock_guard lock(mutex_);
      commands_.push_back(got.message);
      auto id = got.message.find("id");
      ids_.push_back(id != got.message.end() && id->is_string() ? id->get<std::string>() : "");
    }
    if (check) {
      try {
        check(got);
      } catch (const std::exception& e) { // a failed ASSERT_* in the check (ThrowListener)
        fail(std::string("check of '") + command + "' failed");
        return false;
      }
    }
    return true;
  }

  UniqueFd server_;
  UniqueFd client_;
  std::vector<Step> steps_;
  std::thread thread_;
  std::string in_;
  std::mutex mutex_;
  std::condition_variable cv_;
  bool released_ = false;
  std::vector<std::string> failures_;
  std::vector<std::string> ids_;
  std::vector<Json> commands_;
  std::size_t writes_ = 0;
  bool done_ = false;
};

} // namespace guestdump::qmp::test
