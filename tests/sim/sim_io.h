// The simulator's IO: the one place that knows what the engine's device and IO context are, so
// that moving the simulator to another backend changes this file pair only.
//
// Today: a real O_DIRECT file (SSDCACHE_SIM_DIR, else /dev/shm when it takes O_DIRECT, else
// /var/tmp) driven by libaio, with the production FaultInjector for IO errors. Consequences the
// simulator documents: completions of IOs that overlap in the kernel arrive in the kernel's order
// (a seed replays the same workload, but not always the same interleaving when a turn leaves IO in
// flight); a crash loses the IOs still queued in user space, while those already in the kernel
// complete on the file (io_destroy waits for them) without the engine learning of it.
//
// Owns the directory, the Device, the AioContext; the engine borrows the latter two.
#pragma once

#include <memory>
#include <string>

#include "storage/aio.h"
#include "storage/device.h"
#include "storage/engine.h"
#include "storage/fault.h"

namespace ssdcache::sim {

class SimIo {
 public:
  // A blank device of `device_size` bytes. nullptr and a one-line `error` on failure.
  static std::unique_ptr<SimIo> Create(uint64_t device_size, std::string& error);
  ~SimIo();
  SimIo(const SimIo&) = delete;
  SimIo& operator=(const SimIo&) = delete;

  std::unique_ptr<storage::Engine> CreateEngine(const storage::EngineOptions& options,
                                                std::string& error);
  // Installs (spec) or removes (nullptr) IO fault injection; only while Idle().
  void SetFaults(const storage::FaultSpec* spec);

  void Submit() { aio_->Submit(); }
  void Poll() { aio_->Poll(); }
  void Drain() { aio_->Drain(); }
  bool Idle() const { return aio_->in_flight() == 0 && aio_->queued() == 0; }

  // The process dies: IO still queued is lost, IO in the device completes there unseen, and the
  // engine is destroyed without a shutdown. A new engine may then be created on the same device.
  void Crash(std::unique_ptr<storage::Engine>& engine);

  const std::string& path() const { return path_; }

 private:
  SimIo() = default;
  bool NewContext(std::string& error);

  std::string dir_;
  std::string path_;
  std::unique_ptr<storage::Device> device_;
  std::unique_ptr<storage::AioContext> aio_;
};

}  // namespace ssdcache::sim
