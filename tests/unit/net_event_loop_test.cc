// EventLoop: registration, edge-triggered delivery, deferred calls, cancellation within a turn,
// timers, hooks; and TurnBudget.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "net/event_loop.h"
#include "net/turn_budget.h"
#include "util/unique_fd.h"

namespace ssdcache::net {
namespace {

// Records every call; runs `on_call` (if set) inside OnEvent.
class Recorder final : public EventHandler {
 public:
  void OnEvent(uint32_t events) override {
    calls.push_back(events);
    if (on_call) on_call(events);
  }
  std::vector<uint32_t> calls;
  std::function<void(uint32_t)> on_call;
};

class EventLoopTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string error;
    loop = EventLoop::Create(error);
    ASSERT_NE(loop, nullptr) << error;
    int sv[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    a.Reset(sv[0]);
    b.Reset(sv[1]);
  }
  void Send(int fd) { ASSERT_EQ(::write(fd, "x", 1), 1); }
  std::unique_ptr<EventLoop> loop;
  util::UniqueFd a, b;
};

TEST_F(EventLoopTest, AddDeliversReadableEdgeOnce) {
  Recorder r;
  ASSERT_TRUE(loop->Add(a.get(), EPOLLIN, &r));
  loop->RunOnce(0);
  EXPECT_TRUE(r.calls.empty());
  Send(b.get());
  loop->RunOnce(1000);
  ASSERT_EQ(r.calls.size(), 1u);
  EXPECT_TRUE(r.calls[0] & EPOLLIN);
  // Edge-triggered: the byte left unread raises no second event.
  loop->RunOnce(0);
  EXPECT_EQ(r.calls.size(), 1u);
  Send(b.get());
  loop->RunOnce(1000);
  EXPECT_EQ(r.calls.size(), 2u);
}

TEST_F(EventLoopTest, ModifyChangesInterestAndHandler) {
  Recorder r1, r2;
  ASSERT_TRUE(loop->Add(a.get(), EPOLLIN, &r1));
  loop->RunOnce(0);
  EXPECT_TRUE(r1.calls.empty());  // writable, but not asked for
  ASSERT_TRUE(loop->Modify(a.get(), EPOLLIN | EPOLLOUT, &r2));
  loop->RunOnce(1000);
  EXPECT_TRUE(r1.calls.empty());
  ASSERT_EQ(r2.calls.size(), 1u);
  EXPECT_TRUE(r2.calls[0] & EPOLLOUT);
  EXPECT_FALSE(loop->Modify(b.get(), EPOLLIN, &r2));  // never added
}

TEST_F(EventLoopTest, RemovedFdGetsNoEvents) {
  Recorder r;
  ASSERT_TRUE(loop->Add(a.get(), EPOLLIN, &r));
  loop->Remove(a.get());
  Send(b.get());
  loop->RunOnce(0);
  EXPECT_TRUE(r.calls.empty());
  EXPECT_TRUE(loop->Add(a.get(), EPOLLIN, &r));  // may be added again
}

TEST_F(EventLoopTest, DeferredHandlerRunsOncePerTurnAfterEvents) {
  std::vector<std::string> order;
  Recorder ev, d;
  ev.on_call = [&](uint32_t) { order.push_back("event"); };
  d.on_call = [&](uint32_t) { order.push_back("deferred"); };
  ASSERT_TRUE(loop->Add(a.get(), EPOLLIN, &ev));
  Send(b.get());
  loop->Defer(&d);
  loop->Defer(&d);
  loop->RunOnce(1000);
  EXPECT_EQ(order, (std::vector<std::string>{"event", "deferred"}));
  ASSERT_EQ(d.calls.size(), 1u);
  EXPECT_EQ(d.calls[0], 0u);
  loop->RunOnce(0);
  EXPECT_EQ(d.calls.size(), 1u);  // not deferred again
}

TEST_F(EventLoopTest, DeferFromDeferredCallRunsNextTurn) {
  Recorder d;
  int budget = 3;
  d.on_call = [&](uint32_t) {
    loop->Defer(&d);  // again in the same call: still once
    if (--budget > 0) loop->Defer(&d);
  };
  loop->Defer(&d);
  loop->RunOnce(0);
  EXPECT_EQ(d.calls.size(), 1u);
  loop->RunOnce(0);
  EXPECT_EQ(d.calls.size(), 2u);
  loop->Cancel(&d);  // still deferred: a handler is cancelled before it is freed
}

TEST_F(EventLoopTest, DeferFromEventRunsInSameTurn) {
  Recorder ev;
  ev.on_call = [&](uint32_t events) {
    if (events != 0) loop->Defer(&ev);
  };
  ASSERT_TRUE(loop->Add(a.get(), EPOLLIN, &ev));
  Send(b.get());
  loop->RunOnce(1000);
  ASSERT_EQ(ev.calls.size(), 2u);
  EXPECT_EQ(ev.calls[1], 0u);
}

TEST_F(EventLoopTest, PendingDeferDoesNotSleep) {
  Recorder d;
  loop->Defer(&d);
  auto start = std::chrono::steady_clock::now();
  loop->RunOnce(5000);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
  EXPECT_EQ(d.calls.size(), 1u);
}

TEST_F(EventLoopTest, CancelForgetsDeferredCall) {
  Recorder d1, d2, d3;
  loop->Defer(&d1);
  loop->Defer(&d2);
  loop->Defer(&d3);
  loop->Cancel(&d2);
  loop->Cancel(&d2);  // twice is harmless
  loop->RunOnce(0);
  EXPECT_EQ(d1.calls.size(), 1u);
  EXPECT_TRUE(d2.calls.empty());
  EXPECT_EQ(d3.calls.size(), 1u);
  loop->Defer(&d2);  // may be deferred again after a Cancel
  loop->RunOnce(0);
  EXPECT_EQ(d2.calls.size(), 1u);
}

TEST_F(EventLoopTest, CancelDuringDeferredPhaseSkipsTheOthersCall) {
  // Whichever of the two runs first frees the other: exactly one call, and ASan sees no use of
  // the freed one.
  auto* first = new Recorder;
  auto* second = new Recorder;
  int calls = 0;
  first->on_call = [&](uint32_t) {
    ++calls;
    loop->Cancel(second);
    delete second;
    second = nullptr;
  };
  second->on_call = [&](uint32_t) { ++calls; };
  loop->Defer(first);
  loop->Defer(second);
  loop->RunOnce(0);
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(second, nullptr);
  delete first;
}

TEST_F(EventLoopTest, HandlerRemovedInSameTurnGetsNoFurtherEvents) {
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
  util::UniqueFd c(sv[0]), d(sv[1]);
  auto* h1 = new Recorder;
  auto* h2 = new Recorder;
  int events = 0;
  int deferred = 0;
  // Both become readable in one turn and both are deferred; the first called removes and frees
  // the other (as a connection closing another would): the other gets neither its event nor
  // its deferred call.
  auto kill = [&](Recorder*& other, int other_fd) {
    return [&, other_fd](uint32_t ev) {
      if (ev == 0) {
        ++deferred;
        return;
      }
      ++events;
      loop->Remove(other_fd);
      loop->Cancel(other);
      delete other;
      other = nullptr;
    };
  };
  h1->on_call = kill(h2, c.get());
  h2->on_call = kill(h1, a.get());
  ASSERT_TRUE(loop->Add(a.get(), EPOLLIN, h1));
  ASSERT_TRUE(loop->Add(c.get(), EPOLLIN, h2));
  loop->Defer(h1);
  loop->Defer(h2);
  Send(b.get());
  Send(d.get());
  loop->RunOnce(1000);
  EXPECT_EQ(events, 1);
  EXPECT_EQ(deferred, 1);
  EXPECT_TRUE((h1 == nullptr) != (h2 == nullptr));
  delete h1;
  delete h2;
}

TEST_F(EventLoopTest, CancelledEventOfEarlierTurnLeavesLaterTurnsAlone) {
  Recorder r;
  ASSERT_TRUE(loop->Add(a.get(), EPOLLIN, &r));
  Send(b.get());
  loop->RunOnce(1000);
  loop->Cancel(&r);  // nothing pending: must not drop the next turn's event
  Send(b.get());
  loop->RunOnce(1000);
  EXPECT_EQ(r.calls.size(), 2u);
}

TEST_F(EventLoopTest, HooksRunAroundTheWait) {
  std::vector<std::string> order;
  Recorder ev, d;
  ev.on_call = [&](uint32_t) { order.push_back("event"); };
  d.on_call = [&](uint32_t) { order.push_back("deferred"); };
  loop->AddBeforeSleep([&] { order.push_back("before_sleep"); });
  loop->AddAfterWake([&] { order.push_back("after_wake"); });
  ASSERT_TRUE(loop->Add(a.get(), EPOLLIN, &ev));
  Send(b.get());
  loop->Defer(&d);
  uint64_t turn = loop->turn();
  loop->RunOnce(1000);
  EXPECT_EQ(loop->turn(), turn + 1);
  EXPECT_EQ(order, (std::vector<std::string>{"before_sleep", "after_wake", "event", "deferred"}));
  order.clear();
  loop->RunOnce(0);
  EXPECT_EQ(order, (std::vector<std::string>{"before_sleep", "after_wake"}));
}

TEST_F(EventLoopTest, RunStopsAfterTheTurnOfStop) {
  Recorder d;
  d.on_call = [&](uint32_t) {
    if (d.calls.size() == 3) {
      loop->Stop();
    }
    loop->Defer(&d);
  };
  loop->Defer(&d);
  loop->Run();
  EXPECT_TRUE(loop->stopped());
  EXPECT_EQ(d.calls.size(), 3u);
  loop->Cancel(&d);
}

TEST_F(EventLoopTest, OneShotTimerFiresOnce) {
  int fired = 0;
  std::string error;
  auto timer = Timer::Create(
      *loop, [&] { ++fired; }, error);
  ASSERT_NE(timer, nullptr) << error;
  ASSERT_TRUE(timer->Arm(1, 0));
  for (int i = 0; i < 50 && fired == 0; ++i) loop->RunOnce(100);
  EXPECT_EQ(fired, 1);
  loop->RunOnce(20);
  EXPECT_EQ(fired, 1);
}

TEST_F(EventLoopTest, PeriodicTimerFiresUntilDisarmed) {
  int fired = 0;
  std::string error;
  auto timer = Timer::Create(
      *loop, [&] { ++fired; }, error);
  ASSERT_NE(timer, nullptr) << error;
  ASSERT_TRUE(timer->Arm(0, 1));  // first at once, then every millisecond
  for (int i = 0; i < 200 && fired < 3; ++i) loop->RunOnce(100);
  EXPECT_GE(fired, 3);
  ASSERT_TRUE(timer->Arm(0, 0));
  int before = fired;
  loop->RunOnce(20);
  loop->RunOnce(20);
  EXPECT_EQ(fired, before);
}

TEST_F(EventLoopTest, TimerDestroyedInSameTurnIsNotCalled) {
  int fired = 0;
  std::string error;
  std::unique_ptr<Timer> t1, t2;
  t1 = Timer::Create(
      *loop, [&] { ++fired, t2.reset(); }, error);
  t2 = Timer::Create(
      *loop, [&] { ++fired, t1.reset(); }, error);
  ASSERT_TRUE(t1 && t2) << error;
  ASSERT_TRUE(t1->Arm(1, 0));
  ASSERT_TRUE(t2->Arm(1, 0));
  usleep(5000);  // both expired before the turn collects their events
  loop->RunOnce(100);
  EXPECT_EQ(fired, 1);
}

TEST(TurnBudgetTest, OneBudgetPerTurnHoweverOftenBegun) {
  TurnBudget budget(2, 3);
  EXPECT_FALSE(budget.CanRecv());  // empty until the first turn
  budget.Begin(1);
  ASSERT_TRUE(budget.CanRecv());
  budget.TakeRecv();
  budget.TakeRecv();
  EXPECT_FALSE(budget.CanRecv());
  EXPECT_TRUE(budget.TakeRequest());
  EXPECT_TRUE(budget.TakeRequest());
  EXPECT_FALSE(budget.TakeRequest());  // the third was the last
  EXPECT_FALSE(budget.CanServe());
  budget.Begin(1);  // called again in the same turn (a deferred call): nothing refilled
  EXPECT_FALSE(budget.CanRecv());
  EXPECT_FALSE(budget.CanServe());
  budget.Begin(2);
  EXPECT_TRUE(budget.CanRecv());
  EXPECT_TRUE(budget.CanServe());
}

}  // namespace
}  // namespace ssdcache::net
