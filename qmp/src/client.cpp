#include "guestdump/qmp/client.h"

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <deque>
#include <exception>
#include <map>
#include <mutex>
#include <optional>

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include "framing.h"
#include "socket_io.h"
#include <guestdump/common/io.h>
#include <guestdump/common/log.h>

namespace guestdump::qmp {
namespace detail {

// How often a blocked waiter wakes to look at the cancel flag.
constexpr Milliseconds kCancelPoll{100};

struct Pending {
  std::string command;
  bool done = false;
  std::optional<Result<Reply>> result;
};

struct SubscriberSlot {
  std::recursive_mutex mutex; // held while the handler runs; recursive so it may unsubscribe
  bool active = true;
  std::vector<std::string> names;
  std::function<void(const Event&)> handler;
};

struct QueueState {
  std::vector<std::string> names;
  std::size_t capacity = 0;
  std::deque<Event> events; // guarded by Core::mutex
  std::uint64_t dropped = 0;
};

// State shared by the Client, its reader thread and its EventQueues (which may outlive it).
struct Core {
  std::string name;
  UniqueFd fd;
  UniqueFd wake_read; // the reader polls it; a byte (or close) from wake_write stops the reader
  UniqueFd wake_write;
  LineSplitter lines; // bytes read but not yet split into lines (greeting, then reader only)
  std::thread::id reader_id;

  std::mutex send_mutex; // one command's bytes (and fds) at a time on the socket

  std::mutex mutex; // guards everything below
  std::condition_variable cv;
  std::uint64_t next_id = 1;
  std::map<std::string, std::shared_ptr<Pending>> pending;
  std::deque<std::string> order; // pending ids in send order
  std::vector<std::weak_ptr<SubscriberSlot>> subscribers;
  std::vector<std::weak_ptr<QueueState>> queues;
  std::optional<Error> closed_error;

  // Marks the connection unusable and fails every waiter with `error`. The first error wins.
  void close_with(Error error) {
    std::lock_guard lock(mutex);
    if (!closed_error) closed_error = std::move(error);
    for (auto& [id, p] : pending) {
      p->result = Error(*closed_error).context("qmp '" + p->command + "'");
      p->done = true;
    }
    pending.clear();
    order.clear();
    cv.notify_all();
  }
};

bool name_matches(const std::vector<std::string>& names, const std::string& name) {
  return names.empty() || std::find(names.begin(), names.end(), name) != names.end();
}

Error protocol_error(const std::string& name, const std::string& what) {
  return make_error(ErrorCode::kProtocol, "qmp '" + name + "': " + what);
}

// Delivers `ev` to the callbacks (first, on this thread, no lock held), then to the queues, so a
// thread woken by a queue sees every callback for that event done.
void dispatch_event(Core& core, const Event& ev) {
  std::vector<std::shared_ptr<SubscriberSlot>> slots;
  {
    std::lock_guard lock(core.mutex);
    for (auto it = core.subscribers.begin(); it != core.subscribers.end();) {
      if (auto s = it->lock()) {
        slots.push_back(std::move(s));
        ++it;
      } else {
        it = core.subscribers.erase(it);
      }
    }
  }
  for (auto& slot : slots) {
    std::lock_guard lock(slot->mutex);
    if (!slot->active || !name_matches(slot->names, ev.name)) continue;
    try {
      slot->handler(ev);
    } catch (const std::exception& e) {
      GUESTDUMP_LOG(kWarn, "qmp") << "event handler for " << ev.name << " threw: " << e.what();
    }
  }
  std::lock_guard lock(core.mutex);
  for (auto it = core.queues.begin(); it != core.queues.end();) {
    auto q = it->lock();
    if (!q) {
      it = core.queues.erase(it);
      continue;
    }
    ++it;
    if (!name_matches(q->names, ev.name)) continue;
    if (q->events.size() >= q->capacity) {
      q->events.pop_front();
      if (q->dropped++ == 0) {
        GUESTDUMP_LOG(kWarn, "qmp")
            << "event queue on '" << core.name << "' full, dropping oldest events";
      }
    }
    q->events.push_back(ev);
  }
  core.cv.notify_all();
}

} // namespace detail

using detail::Clock;

// --- Subscription / EventQueue ------------------------------------------------------------------

Subscription& Subscription::operator=(Subscription&& other) noexcept {
  if (this != &other) {
    reset();
    slot_ = std::move(other.slot_);
  }
  return *this;
}

Subscription::~Subscription() {
  reset();
}

void Subscription::reset() {
  if (!slot_) return;
  {
    // Waits for a running invocation on the reader thread; from inside the handler the
    // recursive mutex is already ours.
    // The handler itself is not destroyed here: this may run inside it. The slot (and the
    // handler's captures) go away with the last reference.
    std::lock_guard lock(slot_->mutex);
    slot_->active = false;
  }
  slot_.reset();
}

EventQueue::~EventQueue() = default;

Result<Event> EventQueue::next(Milliseconds timeout) {
  if (!core_ || !state_) return make_error(ErrorCode::kInvalidArgument, "moved-from event queue");
  const auto deadline = Clock::now() + timeout;
  std::unique_lock lock(core_->mutex);
  for (;;) {
    if (!state_->events.empty()) {
      Event ev = std::move(state_->events.front());
      state_->events.pop_front();
      return ev;
    }
    if (core_->closed_error) return Error(*core_->closed_error).context("waiting for an event");
    if (auto c = check_cancel(); !c) {
      return std::move(c).error().context("qmp '" + core_->name + "': waiting for an event");
    }
    auto now = Clock::now();
    if (now >= deadline) {
      return make_error(ErrorCode::kTimeout, "qmp '" + core_->name + "': no event within " +
                                                 std::to_string(timeout.count()) + " ms");
    }
    core_->cv.wait_until(lock, std::min(deadline, now + detail::kCancelPoll));
  }
}

Result<Event> EventQueue::wait_for(std::string_view name, Milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    auto left = std::chrono::duration_cast<Milliseconds>(deadline - Clock::now());
    auto ev = next(std::max(left, Milliseconds(0)));
    if (!ev) {
      if (ev.error().code == ErrorCode::kTimeout) {
        return make_error(ErrorCode::kTimeout, "qmp '" + core_->name + "': no " +
                                                   std::string(name) + " event within " +
                                                   std::to_string(timeout.count()) + " ms");
      }
      return ev;
    }
    if (ev->name == name) return ev;
  }
}

std::size_t EventQueue::size() const {
  if (!core_ || !state_) return 0;
  std::lock_guard lock(core_->mutex);
  return state_->events.size();
}

// --- Client -------------------------------------------------------------------------------------

Error command_error(std::string_view command, const CommandError& error) {
  ErrorCode code = ErrorCode::kInvalidArgument;
  if (error.error_class == "CommandNotFound") code = ErrorCode::kUnsupported;
  if (error.error_class == "DeviceNotFound") code = ErrorCode::kNotFound;
  return make_error(code,
                    "qmp '" + std::string(command) + "': " + error.error_class + ": " + error.desc);
}

Client::Client(UniqueFd fd, std::string name)
    : name_(std::move(name)), core_(std::make_shared<detail::Core>()) {
  core_->name = name_;
  core_->fd = std::move(fd);
}

Client::~Client() {
  if (reader_.joinable()) {
    // Closing the write end wakes the reader's poll() with POLLHUP.
    core_->wake_write.reset();
    reader_.join();
  }
  core_->close_with(
      make_error(ErrorCode::kProtocol, "connection to '" + name_ + "' closed by the client"));
  core_->fd.reset();
}

bool Client::closed() const {
  std::lock_guard lock(core_->mutex);
  return core_->closed_error.has_value();
}

Result<std::unique_ptr<Client>> Client::connect(const std::string& path, Milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  GUESTDUMP_TRY(UniqueFd fd, detail::connect_unix(path, deadline));
  auto left = std::chrono::duration_cast<Milliseconds>(deadline - Clock::now());
  return from_fd(std::move(fd), path, std::max(left, Milliseconds(1)));
}

Result<std::unique_ptr<Client>> Client::from_fd(UniqueFd fd, std::string name,
                                                Milliseconds timeout) {
  if (!fd.valid()) {
    return make_error(ErrorCode::kInvalidArgument, "qmp '" + name + "': invalid descriptor");
  }
  GUESTDUMP_CHECK(detail::set_nonblocking(fd.get(), name));
  int wake[2];
  if (::pipe2(wake, O_CLOEXEC) < 0) return errno_error("pipe for qmp", name);
  std::unique_ptr<Client> client(new Client(std::move(fd), std::move(name)));
  client->core_->wake_read.reset(wake[0]);
  client->core_->wake_write.reset(wake[1]);

  const auto deadline = Clock::now() + timeout;
  GUESTDUMP_CHECK(client->read_greeting(timeout));
  client->reader_ = std::thread([c = client.get()] { c->reader_loop(); });
  {
    // execute() refuses to run on the reader thread, so it must know its id first.
    std::lock_guard lock(client->core_->mutex);
    client->core_->reader_id = client->reader_.get_id();
  }
  auto left = std::chrono::duration_cast<Milliseconds>(deadline - Clock::now());
  GUESTDUMP_CHECK(
      client->execute("qmp_capabilities", Json::object(), std::max(left, Milliseconds(1))));
  GUESTDUMP_LOG(kDebug, "qmp") << "connected to '" << client->name_ << "', QEMU "
                               << client->greeting_.major << "." << client->greeting_.minor << "."
                               << client->greeting_.micro;
  return client;
}

Result<void> Client::read_greeting(Milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  auto& lines = core_->lines;
  std::optional<std::string> line;
  while (!(line = lines.next_line())) {
    if (lines.overflow()) return detail::protocol_error(name_, "greeting line too long");
    GUESTDUMP_CHECK(check_cancel());
    pollfd p{core_->fd.get(), POLLIN, 0};
    int wait = std::min(detail::ms_until(deadline), static_cast<int>(detail::kCancelPoll.count()));
    int n = ::poll(&p, 1, wait);
    if (n < 0 && errno != EINTR) return errno_error("poll", name_);
    if (n <= 0) {
      if (Clock::now() >= deadline) {
        return make_error(ErrorCode::kTimeout,
                          "qmp '" + name_ + "': no greeting within " +
                              std::to_string(timeout.count()) +
                              " ms (is another client connected to this monitor?)");
      }
      continue;
    }
    char tmp[4096];
    ssize_t got = ::read(core_->fd.get(), tmp, sizeof(tmp));
    if (got < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (got < 0) return errno_error("read from", name_);
    if (got == 0) return detail::protocol_error(name_, "connection closed before the greeting");
    lines.append(std::string_view(tmp, static_cast<std::size_t>(got)));
  }
  GUESTDUMP_TRY(greeting_, detail::parse_greeting(*line, name_));
  return {};
}

void Client::reader_loop() {
  auto& core = *core_;
  auto& lines = core.lines;
  for (;;) {
    // Route every complete line first: one read may carry several messages (coalesced), or
    // only part of one (split); the rest stays buffered.
    while (auto line = lines.next_line()) {
      auto msg = detail::parse_message(*line, name_);
      if (!msg) {
        // QEMU never sends this; after garbage the stream cannot be trusted to stay in sync.
        core.close_with(std::move(msg).error());
        return;
      }
      if (auto* ev = std::get_if<Event>(&*msg)) {
        detail::dispatch_event(core, *ev);
      } else if (auto* reply = std::get_if<detail::ReplyMessage>(&*msg)) {
        std::lock_guard lock(core.mutex);
        std::string id = reply->id;
        if (!reply->has_id && !core.order.empty()) id = core.order.front();
        auto p = core.pending.find(id);
        if (p == core.pending.end()) {
          // A command that timed out or was cancelled; its late answer has nobody to go to.
          GUESTDUMP_LOG(kDebug, "qmp")
              << "'" << name_ << "': reply for no waiting command: " << detail::clip(*line);
        } else {
          p->second->result = std::move(reply->reply);
          p->second->done = true;
          core.order.erase(std::find(core.order.begin(), core.order.end(), id));
          core.pending.erase(p);
          core.cv.notify_all();
        }
      } else if (!line->empty()) {
        GUESTDUMP_LOG(kDebug, "qmp")
            << "'" << name_ << "': ignoring message " << detail::clip(*line);
      }
    }
    if (lines.overflow()) {
      core.close_with(detail::protocol_error(
          name_, "line longer than " + std::to_string(kMaxLineBytes) + " bytes from peer"));
      return;
    }

    pollfd fds[2] = {{core.fd.get(), POLLIN, 0}, {core.wake_read.get(), POLLIN, 0}};
    int n = ::poll(fds, 2, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      core.close_with(errno_error("poll", name_));
      return;
    }
    if (fds[1].revents != 0) return; // the destructor asked us to stop
    char tmp[65536];
    ssize_t got = ::read(core.fd.get(), tmp, sizeof(tmp));
    if (got < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      core.close_with(errno_error("read from qmp", name_));
      return;
    }
    if (got == 0) {
      core.close_with(
          make_error(ErrorCode::kProtocol, "connection to '" + name_ + "' closed by peer"));
      return;
    }
    lines.append(std::string_view(tmp, static_cast<std::size_t>(got)));
  }
}

Result<Reply> Client::execute_raw(std::string_view command, const Json& arguments,
                                  Milliseconds timeout, std::span<const int> fds) {
  auto& core = *core_;
  const std::string cmd(command);
  const auto deadline = Clock::now() + timeout;
  auto pending = std::make_shared<detail::Pending>();
  pending->command = cmd;
  std::string id;
  {
    std::lock_guard lock(core.mutex);
    if (std::this_thread::get_id() == core.reader_id) {
      return make_error(ErrorCode::kInvalidArgument,
                        "qmp '" + cmd + "': called from an event callback (would deadlock)");
    }
    if (core.closed_error) return Error(*core.closed_error).context("qmp '" + cmd + "'");
    id = "gd-" + std::to_string(core.next_id++);
    core.pending.emplace(id, pending);
    core.order.push_back(id);
  }
  // Drops our pending entry (core.mutex held) so that a late reply is discarded.
  auto forget_locked = [&] {
    if (core.pending.erase(id) != 0) {
      core.order.erase(std::find(core.order.begin(), core.order.end(), id));
    }
  };

  Json msg = {{"execute", cmd}, {"id", id}};
  if (!arguments.is_null() && !(arguments.is_object() && arguments.empty())) {
    msg["arguments"] = arguments;
  }
  std::string line = msg.dump(-1, ' ', true) + "\n";
  {
    std::lock_guard send_lock(core.send_mutex);
    if (auto sent = detail::send_all(core.fd.get(), line, fds, deadline, name_); !sent) {
      // Part of the line may be on the wire: the stream is out of step for everyone.
      Error err = std::move(sent).error();
      core.close_with(err);
      return std::move(err).context("qmp '" + cmd + "'");
    }
  }

  std::unique_lock lock(core.mutex);
  for (;;) {
    if (pending->done) return std::move(*pending->result);
    if (auto c = check_cancel(); !c) {
      forget_locked();
      return std::move(c).error().context("qmp '" + cmd + "' on '" + name_ + "'");
    }
    auto now = Clock::now();
    if (now >= deadline) {
      forget_locked();
      return make_error(ErrorCode::kTimeout, "qmp '" + cmd + "': no reply from '" + name_ +
                                                 "' within " + std::to_string(timeout.count()) +
                                                 " ms");
    }
    core.cv.wait_until(lock, std::min(deadline, now + detail::kCancelPoll));
  }
}

Result<Json> Client::execute(std::string_view command, const Json& arguments, Milliseconds timeout,
                             std::span<const int> fds) {
  GUESTDUMP_TRY(Reply reply, execute_raw(command, arguments, timeout, fds));
  if (reply.failed) return command_error(command, reply.error);
  return std::move(reply.value);
}

Subscription Client::subscribe(std::function<void(const Event&)> handler,
                               std::vector<std::string> names) {
  auto slot = std::make_shared<detail::SubscriberSlot>();
  slot->names = std::move(names);
  slot->handler = std::move(handler);
  std::lock_guard lock(core_->mutex);
  core_->subscribers.push_back(slot);
  return Subscription(std::move(slot));
}

EventQueue Client::event_queue(std::vector<std::string> names, std::size_t capacity) {
  auto state = std::make_shared<detail::QueueState>();
  state->names = std::move(names);
  state->capacity = std::max<std::size_t>(capacity, 1);
  std::lock_guard lock(core_->mutex);
  core_->queues.push_back(state);
  return EventQueue(core_, std::move(state));
}

} // namespace guestdump::qmp
