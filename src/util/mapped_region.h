// RAII owner of a shared file mapping (mmap MAP_SHARED). Invariant: data() is either null (empty,
// size() 0) or the start of a mapping of size() bytes that this object alone unmaps.
//
// The crash journal's process mode writes its ring through one: stores into a shared file
// mapping land in the page cache, which outlives the process (see storage/journal.h).
#pragma once

#include <sys/mman.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <utility>

namespace ssdcache::util {

class MappedRegion {
 public:
  MappedRegion() = default;
  MappedRegion(const MappedRegion&) = delete;
  MappedRegion& operator=(const MappedRegion&) = delete;
  MappedRegion(MappedRegion&& o) noexcept
      : data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)) {}
  MappedRegion& operator=(MappedRegion&& o) noexcept {
    if (this != &o) {
      Reset();
      data_ = std::exchange(o.data_, nullptr);
      size_ = std::exchange(o.size_, 0);
    }
    return *this;
  }
  ~MappedRegion() { Reset(); }

  // Maps `len` bytes of `fd` at `offset` (a multiple of the page size) read-write and shared,
  // with `extra_flags` (e.g. MAP_POPULATE). On failure the result is empty and `err` the errno.
  static MappedRegion MapShared(int fd, uint64_t offset, size_t len, int extra_flags, int& err) {
    MappedRegion r;
    void* p = ::mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_SHARED | extra_flags, fd,
                     static_cast<off_t>(offset));
    if (p == MAP_FAILED) {
      err = errno;
      return r;
    }
    err = 0;
    r.data_ = static_cast<char*>(p);
    r.size_ = len;
    return r;
  }

  char* data() const { return data_; }
  size_t size() const { return size_; }
  bool empty() const { return data_ == nullptr; }

  // Pins the pages in RAM, so that touching them never waits for a read from the device. Returns
  // the errno (0 on success); failing (RLIMIT_MEMLOCK) is harmless.
  int Lock() const { return ::mlock(data_, size_) == 0 ? 0 : errno; }
  // Writes the dirty pages back to the file and waits (msync MS_SYNC). Returns the errno (0: ok).
  int Sync() const { return ::msync(data_, size_, MS_SYNC) == 0 ? 0 : errno; }

 private:
  void Reset() {
    if (data_ != nullptr) ::munmap(data_, size_);
    data_ = nullptr;
    size_ = 0;
  }

  char* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace ssdcache::util
