#include "net/event_loop.h"

#include <sys/timerfd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace ssdcache::net {

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

void EventLoop::Defer(EventHandler* handler) {
  if (std::find(deferred_.begin(), deferred_.end(), handler) == deferred_.end()) {
    deferred_.push_back(handler);
  }
}

void EventLoop::Cancel(EventHandler* handler) {
  std::erase(deferred_, handler);
  std::replace(running_.begin(), running_.end(), handler, static_cast<EventHandler*>(nullptr));
  // A handler freed during this turn must not be called for events already collected.
  for (epoll_event& ev : events_) {
    if (ev.data.ptr == handler) ev.data.ptr = nullptr;
  }
}

void EventLoop::Run() {
  while (!stopped_) RunOnce(-1);
}

void EventLoop::RunOnce(int timeout_ms) {
  for (auto& hook : before_sleep_) hook();
  int timeout = deferred_.empty() ? timeout_ms : 0;
  int n = epoll_wait(epfd_.get(), events_.data(), static_cast<int>(events_.size()), timeout);
  if (n < 0) {
    n = 0;
  }
  for (auto& hook : after_wake_) hook();
  for (int i = 0; i < n; ++i) {
    auto* h = static_cast<EventHandler*>(events_[i].data.ptr);
    if (h != nullptr) h->OnEvent(events_[i].events);
  }
  // Clear the collected events so Cancel() of a later turn scans nothing stale.
  for (int i = 0; i < n; ++i) events_[i].data.ptr = nullptr;
  running_.swap(deferred_);
  deferred_.clear();
  for (size_t i = 0; i < running_.size(); ++i) {
    if (running_[i] != nullptr) running_[i]->OnEvent(0);
  }
  running_.clear();
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
