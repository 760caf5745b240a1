// IO fault decisions for tests: decides, for each IO that the device completed, whether the caller
// sees it fail with -EIO, come back short, come back failed after tearing the write (the range's
// tail left with garbage), or arrive late (a "stall"). FaultBackend (fault_backend.h), a decorator
// around any IoBackend, owns one and applies it; the server wraps its backend in one only when
// the SSDCACHE_FAULTS environment variable holds a spec. It is always compiled in (no build
// variant) and costs nothing when absent.
//
// Spec: comma-separated key=value pairs, e.g.
//   read_eio=0.05,write_eio=0.02,read_short=0.01,write_short=0.01,stall=0.01,stall_ms=50,seed=42,
//   after=100
// read_eio/read_short (and write_eio/write_short/write_torn) are per-op probabilities of exclusive
// outcomes (their sum is at most 1); write_* apply to slab and superblock writes, journal_eio
// alone to journal block writes (so a test can fail the crash journal while slabs are written
// fine, and the other way round); stall is an independent per-op probability and needs
// stall_ms > 0; after lets that many completions through untouched first; seed (default 1) makes
// the decisions reproducible.
//
// Invariants:
//  - Decisions depend only on the seed and the sequence of completions (direction and length), so
//    the same run of IOs meets the same faults.
//  - A real device error is never masked; an injected short count is always < the op's length.
//  - Every held op is handed back exactly once (TakeHeld), in the order it was held; its due time
//    is stall_ms after it was held.
//  - Held ops are only touched on the event loop thread. The only other thread is the waker
//    (started at the first stall, so after any daemonizing fork), which never touches an op: it
//    writes 1 to the backend's eventfd when the earliest held op is due, so that the loop calls
//    Reap() even when nothing else happens. The destructor stops it before the eventfd is closed.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <thread>

namespace ssdcache::storage {

struct IoOp;

struct FaultSpec {
  double read_eio = 0;
  double read_short = 0;
  double write_eio = 0;
  double write_short = 0;
  double write_torn = 0;
  double journal_eio = 0;
  double stall = 0;
  uint32_t stall_ms = 0;
  uint64_t seed = 1;
  uint64_t after = 0;  // completions let through before any fault

  // Nullopt and a one-line `error` naming the offending item on a malformed spec. An empty spec is
  // valid and injects nothing.
  static std::optional<FaultSpec> Parse(std::string_view text, std::string& error);
  // True when some fault can happen.
  bool active() const;
  // Canonical "key=value,..." form (every key), for logs.
  std::string ToString() const;
};

struct FaultStats {
  uint64_t ops = 0;  // completions seen
  uint64_t eio = 0;  // results replaced by -EIO
  uint64_t short_ops = 0;
  uint64_t torn = 0;       // writes torn (and reported as -EIO)
  uint64_t stalled = 0;    // ops held back
  uint64_t delivered = 0;  // held ops handed back
};

class FaultInjector {
 public:
  explicit FaultInjector(const FaultSpec& spec);
  // Parses `spec`; nullptr and a one-line `error` if it is malformed.
  static std::unique_ptr<FaultInjector> Create(std::string_view spec, std::string& error);
  ~FaultInjector();
  FaultInjector(const FaultInjector&) = delete;
  FaultInjector& operator=(const FaultInjector&) = delete;

  // The fd to write to when a held op becomes due (the backend's eventfd). Called once, by
  // FaultBackend::set_injector. Without it, held ops wait for the next Reap() however caused.
  void Attach(int wake_fd);

  struct Decision {
    int64_t result;  // what the caller will see
    bool stall;      // hold the op back for stall_ms before delivering it
    bool torn;       // a write: leave garbage in the tail of its range (result is then -EIO)
  };
  // Decides the fate of one completed op: `result` is the device's (bytes or -errno).
  Decision Decide(bool write, size_t len, int64_t result, bool journal = false);

  // Keeps a completed op (with the result to deliver) until stall_ms from now.
  void Hold(IoOp& op, int64_t result);
  // Pops the oldest held op if it is due (or whatever its due time when `all`); false if none.
  bool TakeHeld(bool all, IoOp*& op, int64_t& result);
  // Makes the waker signal when the oldest held op is due (after TakeHeld left some behind).
  void Rearm();
  size_t held() const { return held_.size(); }

  const FaultSpec& spec() const { return spec_; }
  const FaultStats& stats() const { return stats_; }

 private:
  using Clock = std::chrono::steady_clock;
  struct Held {
    IoOp* op;
    int64_t result;
    Clock::time_point due;
  };

  double Uniform();
  void Arm(Clock::time_point due);
  void WakerMain();

  FaultSpec spec_;
  std::mt19937_64 rng_;
  FaultStats stats_;
  std::deque<Held> held_;  // due times grow front to back (one stall_ms for all)

  // Waker thread state (guarded by mu_).
  int wake_fd_ = -1;
  std::mutex mu_;
  std::condition_variable cv_;
  std::optional<Clock::time_point> deadline_;
  bool stop_ = false;
  std::thread waker_;
};

}  // namespace ssdcache::storage
