// The epoll event loop, edge-triggered. Owns the epoll fd; knows only fds and handlers.
//
// Invariants:
//  - Every registration is EPOLLET; epoll_event.data.ptr is the EventHandler that owns the fd, so
//    a handler must drain its fd (read/accept/write until EAGAIN) on every edge it is given. A
//    handler owns at most one registered fd (so that Cancel() can find its one pending event).
//  - A handler that stops early (its per-turn budget ran out) asks for a deferred call with
//    Defer(); deferred handlers run once per turn after the epoll events, and epoll_wait does not
//    sleep while any are pending, so one busy client cannot starve the others. A handler deferred
//    twice in a turn is called once; one that defers itself while being called runs next turn.
//  - Before-sleep hooks run once per turn right before epoll_wait (batched aio submission).
//  - After Remove() and Cancel() a handler gets no further calls, not even for an event already
//    collected in the same turn, so it may be freed right away.
//
// Defer() and Cancel() are O(1), as Redis's CLIENT_PENDING_WRITE flag and list: the deferred
// list is intrusive (each handler holds its own links), and each handler remembers the slot of
// its event collected this turn.
#pragma once

#include <sys/epoll.h>

#include <cassert>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "util/unique_fd.h"

namespace ssdcache::net {

class EventLoop;

// A node of an intrusive circular list; unlinked when next == nullptr.
struct DeferLink {
  DeferLink* prev = nullptr;
  DeferLink* next = nullptr;
};

class EventHandler : private DeferLink {
 public:
  // `events`: EPOLLIN / EPOLLOUT / EPOLLERR / EPOLLHUP / EPOLLRDHUP bits; 0 for a deferred call.
  virtual void OnEvent(uint32_t events) = 0;

 protected:
  EventHandler() = default;
  // Freed while deferred, it would be called after its end: Cancel() first.
  ~EventHandler() { assert(next == nullptr); }
  // The loop points at the handler (list links, event slot): it must not move.
  EventHandler(const EventHandler&) = delete;
  EventHandler& operator=(const EventHandler&) = delete;

 private:
  friend class EventLoop;
  // 1 + index in the loop's events of this turn of this handler's not yet dispatched event.
  uint32_t event_slot_ = 0;
};

class EventLoop {
 public:
  static std::unique_ptr<EventLoop> Create(std::string& error);

  bool Add(int fd, uint32_t events, EventHandler* handler);
  bool Modify(int fd, uint32_t events, EventHandler* handler);
  void Remove(int fd);

  // Calls handler->OnEvent(0) at the end of this turn (or of the next one, if called from a
  // deferred call); idempotent.
  void Defer(EventHandler* handler);
  // Forgets a pending deferred call and any event of this turn not yet dispatched to handler.
  void Cancel(EventHandler* handler);

  void AddBeforeSleep(std::function<void()> hook) { before_sleep_.push_back(std::move(hook)); }
  // Runs once per turn right after epoll_wait returns, before any handler (e.g. a cached clock).
  void AddAfterWake(std::function<void()> hook) { after_wake_.push_back(std::move(hook)); }

  // Runs until Stop(); returns after the turn in which Stop() was called.
  void Run();
  // Runs one turn, waiting at most timeout_ms for events (-1: until one arrives).
  void RunOnce(int timeout_ms);
  void Stop() { stopped_ = true; }
  bool stopped() const { return stopped_; }
  // Turns started so far: a handler's per-turn budget is refilled when this changes.
  uint64_t turn() const { return turn_; }

 private:
  EventLoop();
  static void Unlink(DeferLink* link);
  static void LinkBefore(DeferLink* pos, DeferLink* link);
  void RunDeferred();

  util::UniqueFd epfd_;
  bool stopped_ = false;
  uint64_t turn_ = 0;
  // Sentinels of two circular lists: handlers deferred to the end of this turn, and the ones
  // being called now (moved there in one splice, so a handler deferring itself waits a turn).
  DeferLink deferred_;
  DeferLink running_;
  std::vector<std::function<void()>> before_sleep_;
  std::vector<std::function<void()>> after_wake_;
  std::vector<epoll_event> events_ = std::vector<epoll_event>(256);
};

// A periodic or one-shot timer on a timerfd, delivered through the loop.
class Timer final : public EventHandler {
 public:
  static std::unique_ptr<Timer> Create(EventLoop& loop, std::function<void()> fn,
                                       std::string& error);
  ~Timer();
  // Fires after `first_ms`, then every `interval_ms` (0: once). Arm(0, 0) disarms.
  bool Arm(uint64_t first_ms, uint64_t interval_ms);
  void OnEvent(uint32_t events) override;

 private:
  Timer(EventLoop& loop, std::function<void()> fn) : loop_(loop), fn_(std::move(fn)) {}
  EventLoop& loop_;
  std::function<void()> fn_;
  util::UniqueFd fd_;
};

}  // namespace ssdcache::net
