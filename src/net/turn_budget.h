// What one handler may do in one loop turn: a number of recv calls and of requests served. The
// budget is refilled when the loop's turn number moves on, however many times the handler is
// called within a turn (for its epoll event, then for a deferred call), so a pipelining client
// gets one budget per turn, not one per call.
#pragma once

#include <cstdint>

namespace ssdcache::net {

class TurnBudget {
 public:
  TurnBudget(int recvs, int requests) : max_recvs_(recvs), max_requests_(requests) {}

  // Call at the start of each call of the handler with EventLoop::turn().
  void Begin(uint64_t turn) {
    if (turn == turn_) return;
    turn_ = turn;
    recvs_ = max_recvs_;
    requests_ = max_requests_;
  }
  bool CanRecv() const { return recvs_ > 0; }
  void TakeRecv() { --recvs_; }
  bool CanServe() const { return requests_ > 0; }
  // Counts one request served; false when it was the turn's last one.
  bool TakeRequest() { return --requests_ > 0; }

 private:
  int max_recvs_;
  int max_requests_;
  uint64_t turn_ = 0;  // EventLoop::turn() starts at 1: the first Begin() fills the budget
  int recvs_ = 0;
  int requests_ = 0;
};

}  // namespace ssdcache::net
