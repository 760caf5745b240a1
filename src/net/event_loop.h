// The epoll event loop, edge-triggered. Owns the epoll fd; knows only fds and handlers.
//
// Invariants:
//  - Every registration is EPOLLET; epoll_event.data.ptr is the EventHandler that owns the fd, so
//    a handler must drain its fd (read/accept/write until EAGAIN) on every edge it is given.
//  - A handler that stops early (its per-turn budget ran out) asks for a deferred call with
//    Defer(); deferred handlers run once per turn after the epoll events, and epoll_wait does not
//    sleep while any are pending, so one busy client cannot starve the others.
//  - Before-sleep hooks run once per turn right before epoll_wait (batched aio submission).
//  - A handler removed with Remove() gets no further events, even later in the same turn: the
//    caller must also Cancel() a pending Defer() before freeing the handler.
#pragma once

#include <sys/epoll.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "util/unique_fd.h"

namespace ssdcache::net {

class EventHandler {
 public:
  // `events`: EPOLLIN / EPOLLOUT / EPOLLERR / EPOLLHUP / EPOLLRDHUP bits; 0 for a deferred call.
  virtual void OnEvent(uint32_t events) = 0;

 protected:
  ~EventHandler() = default;
};

class EventLoop {
 public:
  static std::unique_ptr<EventLoop> Create(std::string& error);

  bool Add(int fd, uint32_t events, EventHandler* handler);
  bool Modify(int fd, uint32_t events, EventHandler* handler);
  void Remove(int fd);

  void Defer(EventHandler* handler);
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

 private:
  EventLoop() = default;
  util::UniqueFd epfd_;
  bool stopped_ = false;
  std::vector<EventHandler*> deferred_;
  std::vector<EventHandler*> running_;
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
