#include "net/event_loop.h"

#include <sys/timerfd.h>

#include <cerrno>
#include <cstring>

namespace ssdcache::net {

EventLoop::EventLoop() {
  deferred_.prev = deferred_.next = &deferred_;
  running_.prev = running_.next = &running_;
}

std::unique_ptr<EventLoop> EventLoop::Create(std::string& error) {
  int fd = epoll_create1(EPOLL_CLOEXEC);
  if (fd < 0) {
    error = std::string("epoll_create1: ") + std::strerror(errno);
    return nullptr;
  }
  auto loop = std::unique_ptr<EventLoop>(new EventLoop());
  loop->epfd_.Reset(fd);
  return loop;
}

bool EventLoop::Add(int fd, uint32_t events, EventHandler* handler) {
  epoll_event ev{};
  ev.events = events | EPOLLET;
  ev.data.ptr = handler;
  return epoll_ctl(epfd_.get(), EPOLL_CTL_ADD, fd, &ev) == 0;
}

bool EventLoop::Modify(int fd, uint32_t events, EventHandler* handler) {
  epoll_event ev{};
  ev.events = events | EPOLLET;
  ev.data.ptr = handler;
  return epoll_ctl(epfd_.get(), EPOLL_CTL_MOD, fd, &ev) == 0;
}

void EventLoop::Remove(int fd) { epoll_ctl(epfd_.get(), EPOLL_CTL_DEL, fd, nullptr); }

void EventLoop::Unlink(DeferLink* link) {
  link->prev->next = link->next;
  link->next->prev = link->prev;
  link->prev = link->next = nullptr;
}

void EventLoop::LinkBefore(DeferLink* pos, DeferLink* link) {
  link->prev = pos->prev;
  link->next = pos;
  pos->prev->next = link;
  pos->prev = link;
}

void EventLoop::Defer(EventHandler* handler) {
  DeferLink* link = handler;
  if (link->next == nullptr) LinkBefore(&deferred_, link);
}

void EventLoop::Cancel(EventHandler* handler) {
  DeferLink* link = handler;
  if (link->next != nullptr) Unlink(link);
  // A handler freed during this turn must not be called for its event already collected.
  if (handler->event_slot_ != 0) {
    events_[handler->event_slot_ - 1].data.ptr = nullptr;
    handler->event_slot_ = 0;
  }
}

void EventLoop::Run() {
  while (!stopped_) RunOnce(-1);
}

void EventLoop::RunOnce(int timeout_ms) {
  ++turn_;
  for (auto& hook : before_sleep_) hook();
  int timeout = deferred_.next == &deferred_ ? timeout_ms : 0;
  int n = epoll_wait(epfd_.get(), events_.data(), static_cast<int>(events_.size()), timeout);
  if (n < 0) {
    n = 0;
  }
  for (int i = 0; i < n; ++i) {
    static_cast<EventHandler*>(events_[i].data.ptr)->event_slot_ = static_cast<uint32_t>(i) + 1;
  }
  for (auto& hook : after_wake_) hook();
  for (int i = 0; i < n; ++i) {
    auto* h = static_cast<EventHandler*>(events_[i].data.ptr);
    if (h == nullptr) continue;  // cancelled earlier in this turn
    h->event_slot_ = 0;
    h->OnEvent(events_[i].events);
  }
  RunDeferred();
}

void EventLoop::RunDeferred() {
  if (deferred_.next == &deferred_) return;
  // Splice the whole deferred list into running_: handlers deferred from here on wait a turn.
  running_.next = deferred_.next;
  running_.prev = deferred_.prev;
  running_.next->prev = &running_;
  running_.prev->next = &running_;
  deferred_.prev = deferred_.next = &deferred_;
  while (running_.next != &running_) {
    DeferLink* link = running_.next;
    Unlink(link);
    static_cast<EventHandler*>(link)->OnEvent(0);
  }
}

std::unique_ptr<Timer> Timer::Create(EventLoop& loop, std::function<void()> fn,
                                     std::string& error) {
  int fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  if (fd < 0) {
    error = std::string("timerfd_create: ") + std::strerror(errno);
    return nullptr;
  }
  auto timer = std::unique_ptr<Timer>(new Timer(loop, std::move(fn)));
  timer->fd_.Reset(fd);
  if (!loop.Add(fd, EPOLLIN, timer.get())) {
    error = std::string("epoll_ctl(timerfd): ") + std::strerror(errno);
    return nullptr;
  }
  return timer;
}

Timer::~Timer() {
  if (fd_.valid()) {
    loop_.Remove(fd_.get());
    loop_.Cancel(this);
  }
}

bool Timer::Arm(uint64_t first_ms, uint64_t interval_ms) {
  itimerspec spec{};
  spec.it_value.tv_sec = static_cast<time_t>(first_ms / 1000);
  spec.it_value.tv_nsec = static_cast<long>((first_ms % 1000) * 1000000);
  if (first_ms == 0 && interval_ms != 0) spec.it_value.tv_nsec = 1;
  spec.it_interval.tv_sec = static_cast<time_t>(interval_ms / 1000);
  spec.it_interval.tv_nsec = static_cast<long>((interval_ms % 1000) * 1000000);
  return timerfd_settime(fd_.get(), 0, &spec, nullptr) == 0;
}

void Timer::OnEvent(uint32_t /*events*/) {
  uint64_t expirations;
  bool fired = false;
  while (::read(fd_.get(), &expirations, sizeof(expirations)) == sizeof(expirations)) fired = true;
  if (fired) fn_();
}

}  // namespace ssdcache::net
