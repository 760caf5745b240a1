#include "sim_io.h"

namespace ssdcache::sim {
namespace {

// IOs in flight at once, as a small server's --max-aio.
constexpr unsigned kMaxInFlight = 32;

}  // namespace

std::unique_ptr<SimIo> SimIo::Create(uint64_t device_size, std::string& error) {
  std::unique_ptr<SimIo> io(new SimIo());
  io->size_ = device_size;
  io->image_ = std::make_shared<storage::MemoryImage>(device_size);
  if (!io->OpenDevice(error)) return nullptr;
  return io;
}

bool SimIo::OpenDevice(std::string& error) {
  storage::MemoryBackendOptions m;
  m.max_in_flight = kMaxInFlight;
  std::unique_ptr<storage::MemoryBackend> memory = storage::MemoryBackend::Create(image_, m, error);
  if (!memory) return false;
  memory_ = memory.get();
  auto faults = std::make_unique<storage::FaultBackend>(std::move(memory));
  faults_ = faults.get();
  storage::DeviceOptions d;
  d.file_size = size_;
  device_ = storage::Device::OpenImage(d, std::move(faults), error);
  return device_ != nullptr;
}

std::unique_ptr<storage::Engine> SimIo::CreateEngine(const storage::EngineOptions& options,
                                                     uint64_t reorder_seed,
                                                     const storage::FaultSpec* faults,
                                                     std::string& error) {
  if (!device_ && !OpenDevice(error)) return nullptr;
  memory_->set_reorder(reorder_seed);
  faults_->set_injector(faults ? std::make_unique<storage::FaultInjector>(*faults) : nullptr);
  return storage::Engine::Create(options, *device_, device_->io(), error);
}

void SimIo::Stop(std::unique_ptr<storage::Engine>& engine) { engine.reset(); }

void SimIo::Crash(std::unique_ptr<storage::Engine>& engine, uint64_t seed, bool reboot) {
  storage::CrashOptions c;
  c.seed = seed;
  c.tear_in_flight = true;
  c.lose_mappings = reboot;
  memory_->Crash(c);
  // The backend may not be used after Crash(): a new device (over the same image) serves the
  // next engine.
  engine.reset();
  device_.reset();
  memory_ = nullptr;
  faults_ = nullptr;
}

}  // namespace ssdcache::sim
