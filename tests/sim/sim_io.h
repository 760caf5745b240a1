// The simulator's IO: the one place that knows what the engine's device and backend are.
//
// The device is an in-memory image (storage::MemoryBackend) behind a FaultBackend, so a seed
// replays exactly: completions arrive in a permutation drawn from the seed (set_reorder), IO
// errors come from the seeded FaultInjector, and a crash is MemoryBackend::Crash: queued and
// in-flight ops never complete, in-flight writes land whole, not at all or torn, and a "reboot"
// also loses what the process-mode journal's mapping held since its last sync. Unflushed writes
// the device reported done are kept (no mode promises anything if the device loses them;
// operations.md, "After a power loss").
//
// Owns the image (kept across engine lives), the Device and its backends; the engine borrows
// the Device and its backend.
#pragma once

#include <memory>
#include <string>

#include "storage/device.h"
#include "storage/engine.h"
#include "storage/fault.h"
#include "storage/fault_backend.h"
#include "storage/memory_backend.h"

namespace ssdcache::sim {

class SimIo {
 public:
  // A blank device of `device_size` bytes. nullptr and a one-line `error` on failure.
  static std::unique_ptr<SimIo> Create(uint64_t device_size, std::string& error);

  // A new engine on the device. `reorder_seed` draws the completion order (0: FIFO); `faults`
  // (or nullptr) the IO errors of this engine life.
  std::unique_ptr<storage::Engine> CreateEngine(const storage::EngineOptions& options,
                                                uint64_t reorder_seed,
                                                const storage::FaultSpec* faults,
                                                std::string& error);

  // A clean stop left no IO outstanding: the engine goes, the device stays.
  void Stop(std::unique_ptr<storage::Engine>& engine);
  // The next clean stop dies after `writes` synchronous writes (FaultBackend::
  // DieAfterSyncWrites); died() says whether it did, StayAlive() disarms it.
  void DieDuringStop(uint64_t writes, bool tear) { faults_->DieAfterSyncWrites(writes, tear); }
  bool died() const { return faults_ != nullptr && faults_->died(); }
  void StayAlive() { faults_->StayAlive(); }
  // The process dies (`reboot`: the machine too, losing the mapped journal's unsynced stores):
  // see the header comment. The engine is destroyed without a shutdown.
  void Crash(std::unique_ptr<storage::Engine>& engine, uint64_t seed, bool reboot);

 private:
  SimIo() = default;
  bool OpenDevice(std::string& error);

  std::shared_ptr<storage::MemoryImage> image_;
  uint64_t size_ = 0;
  std::unique_ptr<storage::Device> device_;
  storage::MemoryBackend* memory_ = nullptr;  // inside device_'s FaultBackend
  storage::FaultBackend* faults_ = nullptr;   // device_'s backend
};

}  // namespace ssdcache::sim
