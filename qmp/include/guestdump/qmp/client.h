#pragma once
// QMP client over a UNIX stream socket (QEMU docs/interop/qmp-spec.rst).
//
// Threading model. A Client owns one reader thread, started once the greeting has been read.
// It is the only code that reads the socket: it splits the byte stream into lines (partial and
// coalesced reads, EINTR), parses each line and routes it:
//   - a reply ({"return"} or {"error"}) goes to the pending command with the same "id" (a reply
//     without an id goes to the oldest pending command: QEMU answers in order);
//   - an event goes, in wire order, to every subscriber: callbacks are invoked on the reader
//     thread with no lock held, then EventQueues buffer it (so a thread woken by a queue sees
//     the callbacks for that event done); an event that precedes a reply on the wire is
//     delivered before that reply's command returns.
// Any thread may call execute() concurrently; writes are serialised by a send mutex and each
// caller blocks on its own reply with a timeout, checking guestdump's cancel flag
// (check_cancel) at least every 100 ms. When the peer closes, sends garbage or the Client is
// destroyed, every waiting command and every EventQueue (once drained) gets the same error.
// The reader thread never runs user code except event callbacks, so a callback must be short
// and must not call execute() (that is refused with an error, as it could never see its reply).

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include <guestdump/common/result.h>
#include <guestdump/common/unique_fd.h>

namespace guestdump::qmp {

using Json = nlohmann::json;
using Milliseconds = std::chrono::milliseconds;

/// Default timeout of a command that QEMU answers at once (query-status, stop, getfd).
inline constexpr Milliseconds kDefaultCommandTimeout{30000};
/// Longest line accepted from the peer; a longer one is a protocol error.
inline constexpr std::size_t kMaxLineBytes = 64u << 20;

/// The server's greeting: {"QMP": {"version": {...}, "capabilities": [...]}}.
struct Greeting {
  int major = 0;
  int minor = 0;
  int micro = 0;
  std::string package;
  std::vector<std::string> capabilities;
};

/// An asynchronous QMP event as sent by QEMU.
struct Event {
  std::string name;
  Json data;                // the "data" member, an empty object when absent
  std::int64_t seconds = 0; // "timestamp" from QEMU's clock
  std::int64_t microseconds = 0;
};

/// The error object of a failed command: {"error": {"class": ..., "desc": ...}}.
struct CommandError {
  std::string error_class;
  std::string desc;
};

/// A command's reply: either the "return" value or QEMU's error object.
struct Reply {
  Json value;          // "return" member (null when QEMU failed the command)
  bool failed = false; // true when QEMU answered with an error object
  CommandError error;  // valid when failed
};

namespace detail {
struct Core;
struct SubscriberSlot;
struct QueueState;
} // namespace detail

/// Keeps an event callback registered; destroying it unregisters the callback and waits for a
/// running invocation to finish (unless called from inside that callback).
class Subscription {
public:
  Subscription() = default;
  Subscription(Subscription&&) noexcept = default;
  Subscription& operator=(Subscription&& other) noexcept;
  Subscription(const Subscription&) = delete;
  Subscription& operator=(const Subscription&) = delete;
  ~Subscription();
  /// Unregisters now (idempotent).
  void reset();

private:
  friend class Client;
  explicit Subscription(std::shared_ptr<detail::SubscriberSlot> slot) : slot_(std::move(slot)) {}
  std::shared_ptr<detail::SubscriberSlot> slot_;
};

/// A buffer of events (optionally only some names) that a thread consumes with next(). Events
/// are queued from the moment the queue is created, so create it before issuing the command
/// whose events you expect. May outlive its Client (next() then reports the close).
class EventQueue {
public:
  EventQueue(EventQueue&&) noexcept = default;
  EventQueue& operator=(EventQueue&&) noexcept = default;
  EventQueue(const EventQueue&) = delete;
  EventQueue& operator=(const EventQueue&) = delete;
  ~EventQueue();

  /// The next queued event, waiting up to `timeout`. Fails with kTimeout, kCancelled, or the
  /// connection's error once the connection is closed and the queue is empty.
  Result<Event> next(Milliseconds timeout);
  /// The next queued event named `name`, discarding others; same failures as next().
  Result<Event> wait_for(std::string_view name, Milliseconds timeout);
  /// Events currently buffered.
  std::size_t size() const;

private:
  friend class Client;
  EventQueue(std::shared_ptr<detail::Core> core, std::shared_ptr<detail::QueueState> state)
      : core_(std::move(core)), state_(std::move(state)) {}
  std::shared_ptr<detail::Core> core_;
  std::shared_ptr<detail::QueueState> state_;
};

/// A connected, negotiated QMP session. Not movable (the reader thread points at it); hold it in
/// the unique_ptr the factories return.
class Client {
public:
  /// Connects to QEMU's QMP socket at `path`, reads the greeting and negotiates capabilities.
  /// While the socket is missing or refuses connections, retries until `timeout` (QEMU may still
  /// be starting); the greeting must also arrive within `timeout`.
  static Result<std::unique_ptr<Client>> connect(const std::string& path, Milliseconds timeout);
  /// Same on an already-connected stream socket (a socketpair, or a socket handed over by a
  /// supervisor). `name` identifies the peer in error messages.
  static Result<std::unique_ptr<Client>> from_fd(UniqueFd fd, std::string name,
                                                 Milliseconds timeout);

  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;
  /// Closes the socket and joins the reader thread; waiters get a "closed" error.
  ~Client();

  const Greeting& greeting() const { return greeting_; }
  /// The peer name used in messages: the socket path or the from_fd() name.
  const std::string& name() const { return name_; }

  /// Runs `command` and returns its reply; QEMU's error object is returned in the Reply, not as
  /// an Error. `fds` are sent as SCM_RIGHTS with the command's bytes (for getfd and add-fd); they
  /// stay owned by the caller. Errors: kTimeout, kCancelled, or the connection's error.
  Result<Reply> execute_raw(std::string_view command, const Json& arguments = Json::object(),
                            Milliseconds timeout = kDefaultCommandTimeout,
                            std::span<const int> fds = {});
  /// Runs `command` and returns its "return" value. QEMU's error object becomes an Error whose
  /// message names the command and the class: "qmp 'stop': GenericError: <desc>" (code
  /// kUnsupported for CommandNotFound, kNotFound for DeviceNotFound, kInvalidArgument otherwise).
  Result<Json> execute(std::string_view command, const Json& arguments = Json::object(),
                       Milliseconds timeout = kDefaultCommandTimeout,
                       std::span<const int> fds = {});

  /// Calls `handler` on the reader thread for every event whose name is in `names` (all events
  /// when empty), until the Subscription is destroyed.
  [[nodiscard]] Subscription subscribe(std::function<void(const Event&)> handler,
                                       std::vector<std::string> names = {});
  /// A queue of the events named in `names` (all when empty), at most `capacity` deep: when it
  /// is full the oldest event is dropped with a warning.
  [[nodiscard]] EventQueue event_queue(std::vector<std::string> names = {},
                                       std::size_t capacity = 4096);

  /// True once the connection is unusable (peer closed, protocol error).
  bool closed() const;

private:
  Client(UniqueFd fd, std::string name);
  Result<void> read_greeting(Milliseconds timeout);
  void reader_loop();

  std::string name_;
  Greeting greeting_;
  std::shared_ptr<detail::Core> core_;
  std::thread reader_;
};

/// The Error for a QMP error object of `command` (see Client::execute).
Error command_error(std::string_view command, const CommandError& error);

} // namespace guestdump::qmp
