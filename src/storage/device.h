// The block device (or regular file) that holds the disk slabs. Owns the O_DIRECT file descriptor
// and the IoBackend (io_backend.h) through which every read and write of it goes, the superblock
// checks of Open() included. A Device over an in-memory image (OpenImage) has no descriptor: its
// backend is the whole device.
//
// Invariants:
//  - The fd is opened with O_DIRECT; every IO issued against it must have offset, length and
//    buffer address aligned to block_size() (CheckAligned() says whether a request is).
//  - offset() and size() describe this instance's slice of the device (`-s I/N`): byte range
//    [offset(), offset() + size()), both multiples of block_size(). IO outside it is a bug.
//  - A regular file is created if missing and extended with fallocate to the requested size; a
//    block device's size comes from the kernel (BLKGETSIZE64) and its logical block size from
//    BLKSSZGET (at least 4096 is used, so files and devices share one alignment).
//  - While a Device exists it holds an exclusive OFD lock (fcntl F_OFD_SETLK) on its slice's byte
//    range, so no second Device, in this process or another, opens an overlapping slice of the
//    same file or device node; disjoint slices (-s 0/2 and -s 1/2) open side by side. The lock is
//    per inode: a partition and its whole disk are different device nodes and do not conflict.
//  - Open() takes the lock and reads the superblocks (item.h) of slice 0 and of this slice before
//    it grows a file or anything else writes: a refused Open leaves the file as it found it.
//    Slice 0's superblock, the first block of the device, records the geometry (N, slice size)
//    the device was formatted with; another slice of another geometry is refused, --format or not.
//  - superblock() is this slice's superblock as Open() read it (nothing when the slice was blank
//    or --format is about to wipe it): what the device was formatted with, for sizing the engine
//    before it starts (Engine::Create). Nothing refreshes it: an engine that formats the device
//    again is started on a Device opened again (the server opens one per run).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "storage/io_backend.h"
#include "storage/item.h"
#include "util/unique_fd.h"

namespace ssdcache::storage {

struct DeviceOptions {
  std::string path;                 // block device or regular file
  uint64_t file_size = 1ULL << 30;  // for a regular file: size to create/extend to (bytes)
  uint32_t instance = 0;            // -s I/N: this instance's slice index I (0-based)
  uint32_t instances = 1;           // N
  uint64_t min_size = 0;            // refuse a slice smaller than this (bytes)
  // --format: this slice's content is about to be wiped, so it may hold anything. Without it, a
  // slice whose first block is neither blank nor a superblock of this geometry is refused.
  bool format = false;
};

// Makes the backend over the device's open descriptor (e.g. LibaioBackend::Create, maybe wrapped
// in a FaultBackend); nullptr and a one-line `error` on failure.
using IoFactory = std::function<std::unique_ptr<IoBackend>(int fd, std::string& error)>;

class Device {
 public:
  // Opens (creating a file if needed), makes the backend, locks the slice, checks the superblocks
  // and grows a file, in that order. On failure returns nullptr and sets `error` to a one-line
  // reason naming the path (e.g. O_DIRECT unsupported on tmpfs, too small, not a file or block
  // device, permission denied, the slice in use, another geometry).
  static std::unique_ptr<Device> Open(const DeviceOptions& options, const IoFactory& make_io,
                                      std::string& error);
  // A device whose bytes are `io`'s alone (a MemoryBackend's image of options.file_size bytes):
  // the same geometry and superblock checks as Open, with no file, lock or allocation.
  static std::unique_ptr<Device> OpenImage(const DeviceOptions& options,
                                           std::unique_ptr<IoBackend> io, std::string& error);

  IoBackend& io() { return *io_; }
  int fd() const { return fd_.get(); }  // -1 for an image
  uint64_t offset() const { return offset_; }
  uint64_t size() const { return size_; }
  uint32_t block_size() const { return block_size_; }
  bool is_block_device() const { return is_block_device_; }
  const std::string& path() const { return path_; }
  // This slice's superblock as Open() found it (see the invariants); nothing: blank or --format.
  const std::optional<Superblock>& superblock() const { return superblock_; }

  bool CheckAligned(const void* buf, uint64_t len, uint64_t off) const;

 private:
  Device() = default;
  // Checks the geometry of a device of `total` bytes and the superblocks, through io_. Returns ""
  // or the error.
  std::string Place(const DeviceOptions& options, uint64_t total, bool& too_small);

  util::UniqueFd fd_;
  // Declared after fd_: it borrows the descriptor, so it goes first (io_destroy waits for IOs).
  std::unique_ptr<IoBackend> io_;
  uint64_t offset_ = 0;
  uint64_t size_ = 0;
  uint32_t block_size_ = 4096;
  bool is_block_device_ = false;
  std::string path_;
  std::optional<Superblock> superblock_;
};

}  // namespace ssdcache::storage
