#include "sim_io.h"

#include <stdlib.h>

#include <cstdlib>
#include <filesystem>

namespace ssdcache::sim {
namespace {

// IOs in flight at once, as a small server's --max-aio.
constexpr unsigned kMaxInFlight = 32;

std::string MakeDir(const std::string& base) {
  std::string dir = base + "/ssdcache-sim-XXXXXX";
  if (mkdtemp(dir.data()) == nullptr) return "";
  return dir;
}

}  // namespace

std::unique_ptr<SimIo> SimIo::Create(uint64_t device_size, std::string& error) {
  std::unique_ptr<SimIo> io(new SimIo());
  std::vector<std::string> bases;
  if (const char* d = std::getenv("SSDCACHE_SIM_DIR"); d != nullptr && *d != '\0') {
    bases.push_back(d);
  } else {
    // tmpfs takes O_DIRECT since Linux 6.6: the fastest "device" there is, like a memory backend.
    bases = {"/dev/shm", "/var/tmp"};
  }
  for (const std::string& base : bases) {
    std::string dir = MakeDir(base);
    if (dir.empty()) continue;
    storage::DeviceOptions d;
    d.path = dir + "/device";
    d.file_size = device_size;
    io->device_ = storage::Device::Open(d, error);
    if (io->device_) {
      io->dir_ = dir;
      io->path_ = d.path;
      break;
    }
    std::filesystem::remove_all(dir);
  }
  if (!io->device_) {
    if (error.empty()) error = "no directory for the simulated device";
    return nullptr;
  }
  if (!io->NewContext(error)) return nullptr;
  return io;
}

SimIo::~SimIo() {
  aio_.reset();
  device_.reset();
  if (!dir_.empty()) std::filesystem::remove_all(dir_);
}

bool SimIo::NewContext(std::string& error) {
  aio_ = storage::AioContext::Create(kMaxInFlight, error);
  return aio_ != nullptr;
}

std::unique_ptr<storage::Engine> SimIo::CreateEngine(const storage::EngineOptions& options,
                                                     std::string& error) {
  return storage::Engine::Create(options, *device_, *aio_, error);
}

void SimIo::SetFaults(const storage::FaultSpec* spec) {
  aio_->set_fault_injector(spec ? std::make_unique<storage::FaultInjector>(*spec) : nullptr);
}

void SimIo::Crash(std::unique_ptr<storage::Engine>& engine) {
  // io_destroy (in ~AioContext) waits for the IOs in the kernel; their handlers never run.
  aio_.reset();
  engine.reset();
  std::string error;
  if (!NewContext(error)) std::abort();  // the first context was made the same way
}

}  // namespace ssdcache::sim
