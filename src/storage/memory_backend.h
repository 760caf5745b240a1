// An IoBackend over a device image in memory, for tests and a future simulator: the engine runs
// unchanged over it, in the real event loop too (it has an eventfd), without a file or libaio.
//
// The image (MemoryImage) is shared: a test keeps it across backends to restart an engine over
// the same "device", as after a process restart. Crash() models what a crash keeps of it.
//
// Invariants:
//  - IO is applied to the image when it completes: a write's bytes land in the image just before
//    its handler runs, a read copies the image then. A queued or in-flight write is not in the
//    image yet (what Crash() may keep of it is its own choice, see CrashOptions).
//  - Every queued op completes exactly once, from Reap(), Poll() or Drain() (never from inside
//    Read()/Write()/Submit()), in submission order (FIFO) unless set_reorder() asked for a seeded
//    permutation of each batch of completions. At most max_in_flight are submitted at once.
//  - The eventfd is signalled while submitted ops wait for their completion, so a loop that
//    sleeps in epoll calls Reap() for them.
//  - Out-of-range IO completes with -EINVAL (a bug in the caller, as with O_DIRECT).
//  - Synchronous IO acts on the image at once. MapShared() maps straight into the image (stores
//    are visible to reads at once, as the page cache makes them for a file).
//  - With track_unflushed, every write since the last Flush() is logged (with the bytes it
//    replaced), so that Crash() can lose the newest of them; mappings keep a copy of what their
//    last Sync() made durable, so that Crash() can lose what was stored after it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "storage/io_backend.h"
#include "util/unique_fd.h"

namespace ssdcache::storage {

// The bytes of the device. Zero-filled, like a new file.
struct MemoryImage {
  explicit MemoryImage(size_t size) : bytes(size, '\0') {}
  std::vector<char> bytes;
};

struct MemoryBackendOptions {
  unsigned max_in_flight = 64;
  bool track_unflushed = false;  // keep what Crash() needs to lose unflushed writes
};

// What a crash does to the image (MemoryBackend::Crash). Choices are drawn from `seed`.
struct CrashOptions {
  uint64_t seed = 1;
  // Lose the newest unflushed writes: a random number of them, from none to all (needs
  // track_unflushed). A device without power-loss protection may lose what was not flushed.
  bool lose_unflushed = false;
  // Writes submitted but not completed: each lands whole, not at all, or torn (a random prefix of
  // whole 4 KiB blocks). Otherwise none of them lands. Queued, unsubmitted writes never land.
  bool tear_in_flight = false;
  // Mapped ranges go back to what their last Sync() wrote (the page cache is lost: a power cut,
  // not a process crash).
  bool lose_mappings = false;
};

class MemoryBackend final : public IoBackend {
 public:
  static std::unique_ptr<MemoryBackend> Create(std::shared_ptr<MemoryImage> image,
                                               const MemoryBackendOptions& options,
                                               std::string& error);
  ~MemoryBackend() override;

  const std::shared_ptr<MemoryImage>& image() const { return image_; }
  uint64_t size() const { return image_->bytes.size(); }

  // Delivers each batch of completions in a permutation drawn from `seed` (0: FIFO again).
  void set_reorder(uint64_t seed);

  // The process dies: queued and in-flight ops are dropped without completing (their handlers
  // never run; the caller discards them), and the image keeps what `options` say. A simulator then
  // destroys the engine, the device and this backend, and restarts over a new one on the image.
  void Crash(const CrashOptions& options);

  int event_fd() const override { return event_fd_.get(); }
  void Read(IoOp& op) override;
  void Write(IoOp& op) override;
  void Submit() override;
  void Reap() override;
  void Poll() override;
  void Drain() override;
  size_t in_flight() const override { return in_flight_.size(); }
  size_t queued() const override { return queued_; }
  IoStats stats() const override { return stats_; }

  int64_t ReadSync(void* buf, size_t len, uint64_t offset) override;
  int64_t WriteSync(const void* buf, size_t len, uint64_t offset) override;
  int Flush() override;
  IoMapping MapShared(uint64_t offset, size_t len, bool populate, int& err) override;

  // Writes logged since the last Flush() (track_unflushed).
  size_t unflushed_writes() const { return undo_.size(); }

 protected:
  int SyncMapping(char* data, size_t len) override;
  void Unmap(char* data, size_t len) override;

 private:
  struct Undo {
    uint64_t offset;
    std::vector<char> old;  // the bytes the write replaced
  };
  struct Mapped {
    uint64_t offset;
    std::vector<char> synced;  // the range as of the last Sync()
  };

  MemoryBackend() = default;
  bool InRange(uint64_t offset, size_t len) const;
  void Store(const void* buf, size_t len, uint64_t offset);
  void Signal();
  size_t CompleteInFlight();
  void Complete(IoOp& op);

  std::shared_ptr<MemoryImage> image_;
  MemoryBackendOptions options_;
  util::UniqueFd event_fd_;
  IoOp* queue_head_ = nullptr;
  IoOp* queue_tail_ = nullptr;
  size_t queued_ = 0;
  std::vector<IoOp*> in_flight_;  // submitted, in submission order (reserved: no allocation)
  std::vector<IoOp*> completing_;
  uint64_t reorder_seed_ = 0;
  std::mt19937_64 reorder_rng_;
  std::vector<Undo> undo_;
  std::vector<Mapped> mapped_;
  IoStats stats_;
};

}  // namespace ssdcache::storage
