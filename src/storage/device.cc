#include "storage/device.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <linux/magic.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iterator>

#include "storage/item.h"
#include "util/aligned_buffer.h"
#include "util/hash.h"

namespace ssdcache::storage {
namespace {

// Files use the page size as their alignment: it satisfies O_DIRECT on every common disk
// filesystem and matches what block devices are raised to, so the layers above see one value.
constexpr uint32_t kFileBlockSize = 4096;

std::string FormatSize(uint64_t bytes) {
  static constexpr const char* kUnits[] = {"KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(bytes) / 1024.0;
  size_t unit = 0;
  while (value >= 1024.0 && unit + 1 < std::size(kUnits)) {
    value /= 1024.0;
    ++unit;
  }
  char buf[80];
  std::snprintf(buf, sizeof(buf), "%llu bytes (%.1f %s)", static_cast<unsigned long long>(bytes),
                value, kUnits[unit]);
  return buf;
}

std::string ParentDir(const std::string& path) {
  size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// Names the file type in an error so that `-d /dev/tty` or `-d /var/lib` says why it is refused.
const char* FileTypeName(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISSOCK(mode)) return "a socket";
  return "an unsupported file type";
}

bool IsUsableType(mode_t mode) { return S_ISREG(mode) || S_ISBLK(mode); }

std::string SliceName(uint32_t instance, uint32_t instances) {
  return std::to_string(instance) + "/" + std::to_string(instances);
}

// Takes the exclusive OFD lock on [offset, offset + len). An OFD lock belongs to the open file
// description, not the process: it conflicts with a second Open in this process too, survives a
// fork (the -d parent never opens the device anyway) and goes with the last descriptor, also when
// the process is killed. Returns "" or the reason (after "slice I/N ").
std::string LockSlice(int fd, uint64_t offset, uint64_t len) {
  struct flock lock {};
  lock.l_type = F_WRLCK;
  lock.l_whence = SEEK_SET;
  lock.l_start = static_cast<off_t>(offset);
  lock.l_len = static_cast<off_t>(len);
  if (::fcntl(fd, F_OFD_SETLK, &lock) == 0) return "";
  if (errno != EAGAIN && errno != EACCES) {
    return std::string("cannot be locked (fcntl F_OFD_SETLK: ") + std::strerror(errno) + ")";
  }
  std::string why = "is in use by another process (another ssdcached on this device?)";
  struct flock held = lock;
  if (::fcntl(fd, F_OFD_GETLK, &held) == 0 && held.l_type != F_UNLCK) {
    why +=
        " that locks bytes " + std::to_string(held.l_start) + " to " +
        (held.l_len == 0 ? std::string("the end") : std::to_string(held.l_start + held.l_len - 1));
  }
  return why + "; each slice takes one instance";
}

enum class BlockKind : uint8_t { kBlank, kSuperblock, kOtherVersion, kForeign };

// Reads the block at `offset` (zeros past the end of a file, which is what growing it gives) and
// says what it holds; a superblock is copied into `sb`.
BlockKind ReadSuperblock(IoBackend& io, uint64_t offset, uint32_t block_size, Superblock& sb,
                         std::string& error) {
  util::AlignedBuffer buf(block_size, block_size);
  if (buf.empty()) {
    error = "could not be read: no memory for a block";
    return BlockKind::kForeign;
  }
  const int64_t n = io.ReadSync(buf.data(), block_size, offset);
  if (n < 0) {
    error = "could not be read at byte " + std::to_string(offset) +
            " (a superblock): " + std::strerror(static_cast<int>(-n));
    return BlockKind::kForeign;
  }
  const char* p = buf.data();
  if (std::all_of(p, p + block_size, [](char c) { return c == 0; })) return BlockKind::kBlank;
  std::memcpy(&sb, p, sizeof(sb));
  const uint32_t crc = sb.crc;
  sb.crc = 0;
  const bool valid = sb.magic == kSuperMagic && util::Crc32c(&sb, sizeof(sb)) == crc;
  sb.crc = crc;
  if (!valid) return BlockKind::kForeign;
  return sb.version == kFormatVersion ? BlockKind::kSuperblock : BlockKind::kOtherVersion;
}

std::string Geometry(uint32_t instance, uint32_t instances, uint64_t slice) {
  return "-s " + SliceName(instance, instances) + " with slices of " + FormatSize(slice);
}

// Judges the superblocks before anything is written (docs/operations.md, sharing one SSD): slice
// 0's is the record of the geometry; this slice's must be blank or of this geometry, unless
// --format wipes it. Returns "" or a one-line reason (after "device PATH "); `found` is this
// slice's superblock when it is one of this geometry (and not about to be wiped).
std::string CheckSuperblocks(IoBackend& io, uint32_t block_size, const DeviceOptions& o,
                             uint64_t offset, uint64_t slice, std::optional<Superblock>& found) {
  std::string error;
  const std::string want = Geometry(o.instance, o.instances, slice);
  Superblock sb{};
  BlockKind kind = ReadSuperblock(io, 0, block_size, sb, error);
  if (!error.empty()) return error;
  if (o.instance != 0 && kind == BlockKind::kSuperblock &&
      (sb.instances != o.instances || sb.device_size != slice)) {
    // --format of this slice alone would leave slice 0 (and its instance) on another geometry.
    return "was formatted, says slice 0's superblock, as " +
           Geometry(0, sb.instances, sb.device_size) + ", which " + want +
           " does not match; use -s I/" + std::to_string(sb.instances) +
           " and the --device-size it was formatted with, or re-format every slice with "
           "--format, slice 0 (-s 0/" +
           std::to_string(o.instances) + ") first";
  }
  if (o.format) return "";
  if (o.instance != 0) kind = ReadSuperblock(io, offset, block_size, sb, error);
  if (!error.empty()) return error;
  const std::string where =
      o.instances == 1 ? "" : " at slice " + SliceName(o.instance, o.instances);
  switch (kind) {
    case BlockKind::kBlank:
      return "";
    case BlockKind::kForeign:
      return "holds no valid ssdcache superblock" + where +
             " (another format, or corrupt); start with --format to wipe it";
    case BlockKind::kOtherVersion:
      return "was formatted" + where + " with format version " + std::to_string(sb.version) +
             " (this build writes " + std::to_string(kFormatVersion) +
             "); start with --format to wipe it";
    case BlockKind::kSuperblock:
      break;
  }
  if (sb.instance == o.instance && sb.instances == o.instances && sb.device_size == slice) {
    found = sb;
    return "";
  }
  return "was formatted" + where + " as " + Geometry(sb.instance, sb.instances, sb.device_size) +
         ", which " + want +
         " does not match; start with the same -s and --device-size, or with --format to wipe it";
}

// Opens `path` (creating a missing file) with O_DIRECT and checks its type. `existed` says
// whether the file was there before; `st` describes what the descriptor refers to.
util::UniqueFd OpenPath(const std::string& path, bool& existed, struct stat& st,
                        std::string& reason) {
  existed = ::stat(path.c_str(), &st) == 0;
  if (!existed && errno != ENOENT) {
    reason = std::string("stat: ") + std::strerror(errno);
    return {};
  }
  if (existed && !IsUsableType(st.st_mode)) {
    reason = std::string("is ") + FileTypeName(st.st_mode) +
             "; expected a regular file or a block device";
    return {};
  }
  int flags = O_RDWR | O_DIRECT | O_CLOEXEC;
  if (!existed) flags |= O_CREAT;
  util::UniqueFd fd(::open(path.c_str(), flags, 0644));
  if (!fd.valid()) {
    int err = errno;
    // tmpfs on kernels before 6.6 (and proc, some FUSE filesystems) create the file and only then
    // refuse O_DIRECT; do not leave an empty file behind.
    if (!existed) ::unlink(path.c_str());
    reason = std::string("open: ") + std::strerror(err);
    if (err == EINVAL) {
      struct statfs fs {};
      bool tmpfs = ::statfs(ParentDir(path).c_str(), &fs) == 0 && fs.f_type == TMPFS_MAGIC;
      reason = std::string("the filesystem ") + (tmpfs ? "(tmpfs) " : "") +
               "does not support O_DIRECT; put the device file on a disk filesystem";
    } else if (err == ENOENT && !existed) {
      struct stat parent {};
      std::string dir = ParentDir(path);
      if (::stat(dir.c_str(), &parent) != 0) {
        reason = "parent directory " + dir + " does not exist; create it first";
      }
    }
    return {};
  }
  // The path may have been replaced between stat() and open(); the fd is what counts.
  if (::fstat(fd.get(), &st) != 0) {
    reason = std::string("fstat: ") + std::strerror(errno);
    return {};
  }
  if (!IsUsableType(st.st_mode)) {
    reason = std::string("is ") + FileTypeName(st.st_mode) +
             "; expected a regular file or a block device";
    return {};
  }
  return fd;
}

// Allocating the whole range up front (even inside an existing file, which may be sparse) means a
// later O_DIRECT write cannot fail with ENOSPC in the middle of serving traffic. Returns "" or the
// reason.
std::string AllocateFile(int fd, uint64_t total, uint64_t current) {
  if (::fallocate(fd, 0, 0, static_cast<off_t>(total)) == 0) return "";
  int err = errno;
  // Filesystems without fallocate still work with a sparse file; only the early ENOSPC guarantee
  // is lost.
  if (err == EOPNOTSUPP) {
    if (current >= total || ::ftruncate(fd, static_cast<off_t>(total)) == 0) return "";
    err = errno;
  }
  return "cannot allocate " + FormatSize(total) + ": " + std::strerror(err);
}

}  // namespace

std::unique_ptr<Device> Device::Open(const DeviceOptions& options, const IoFactory& make_io,
                                     std::string& error) {
  const std::string& path = options.path;
  auto fail = [&](const std::string& reason) -> std::unique_ptr<Device> {
    error = "device " + path + ": " + reason;
    return nullptr;
  };
  if (path.empty()) {
    error = "device: no path given";
    return nullptr;
  }
  if (options.instances == 0) return fail("slice count (-s I/N) must be at least 1");
  if (options.instance >= options.instances) {
    return fail("slice " + SliceName(options.instance, options.instances) +
                " is out of range (I must be below N)");
  }
  bool existed = false;
  struct stat st {};
  std::string reason;
  util::UniqueFd fd = OpenPath(path, existed, st, reason);
  if (!fd.valid()) return fail(reason);

  std::unique_ptr<Device> dev(new Device());
  dev->path_ = path;
  dev->fd_ = std::move(fd);
  uint64_t total = 0;
  if (S_ISBLK(st.st_mode)) {
    dev->is_block_device_ = true;
    uint64_t bytes = 0;
    if (::ioctl(fd.get(), BLKGETSIZE64, &bytes) != 0) {
      return fail(std::string("ioctl(BLKGETSIZE64): ") + std::strerror(errno));
    }
    int logical = 0;
    if (::ioctl(fd.get(), BLKSSZGET, &logical) != 0) {
      return fail(std::string("ioctl(BLKSSZGET): ") + std::strerror(errno));
    }
    dev->block_size_ = std::max<uint32_t>(kFileBlockSize, static_cast<uint32_t>(logical));
    total = bytes / dev->block_size_ * dev->block_size_;
  } else {
    dev->block_size_ = kFileBlockSize;
    total = options.file_size / kFileBlockSize * kFileBlockSize;
  }
  if (total > 0) {
    dev->io_ = make_io(dev->fd_.get(), reason);
    if (dev->io_ == nullptr) {
      if (!existed) ::unlink(path.c_str());
      error = reason;
      return nullptr;
    }
  }
  // Nothing is written before the slice is ours and its superblocks are judged; a file that another
  // process created at the same time is never unlinked after the lock was tried.
  bool too_small = false;
  reason = dev->Place(options, total, too_small);
  if (!reason.empty()) {
    if (too_small && !existed) ::unlink(path.c_str());
    error = "device " + path + reason;
    return nullptr;
  }
  if (!dev->is_block_device_) {
    reason = AllocateFile(dev->fd_.get(), total, static_cast<uint64_t>(st.st_size));
    if (!reason.empty()) {
      if (!existed) ::unlink(path.c_str());
      return fail(reason);
    }
  }
  return dev;
}

std::unique_ptr<Device> Device::OpenImage(const DeviceOptions& options,
                                          std::unique_ptr<IoBackend> io, std::string& error) {
  std::unique_ptr<Device> dev(new Device());
  dev->path_ = options.path.empty() ? "(memory)" : options.path;
  dev->block_size_ = kFileBlockSize;
  dev->io_ = std::move(io);
  bool too_small = false;
  std::string reason =
      options.instances == 0 || options.instance >= options.instances
          ? ": slice " + SliceName(options.instance, options.instances) + " is out of range"
          : dev->Place(options, options.file_size / kFileBlockSize * kFileBlockSize, too_small);
  if (!reason.empty()) {
    error = "device " + dev->path_ + reason;
    return nullptr;
  }
  return dev;
}

// Returns "" or the error after "device PATH" (which starts with ": " or " ").
std::string Device::Place(const DeviceOptions& options, uint64_t total, bool& too_small) {
  if (total == 0) {
    too_small = true;
    return ": file size " + std::to_string(options.file_size) + " is smaller than one block (" +
           std::to_string(kFileBlockSize) + " bytes)";
  }
  const std::string slice_name = "slice " + SliceName(options.instance, options.instances);
  uint64_t slice = total / options.instances / block_size_ * block_size_;
  if (slice == 0 || slice < options.min_size) {
    too_small = true;
    return ": " + (options.instances == 1 ? std::string("device") : slice_name) + " is " +
           FormatSize(slice) + " but must be at least " +
           FormatSize(std::max<uint64_t>(options.min_size, block_size_));
  }
  offset_ = slice * options.instance;
  size_ = slice;
  if (fd_.valid()) {
    std::string reason = LockSlice(fd_.get(), offset_, slice);
    if (!reason.empty()) return ": " + slice_name + " " + reason;
  }
  std::string reason = CheckSuperblocks(*io_, block_size_, options, offset_, slice, superblock_);
  return reason.empty() ? "" : " " + reason;
}

// A zero-length request is refused too: no caller has a reason to issue one, so it is a bug.
bool Device::CheckAligned(const void* buf, uint64_t len, uint64_t off) const {
  uint64_t bs = block_size_;
  if (reinterpret_cast<uintptr_t>(buf) % bs != 0 || len == 0 || len % bs != 0 || off % bs != 0) {
    return false;
  }
  return off >= offset_ && len <= size_ && off - offset_ <= size_ - len;
}

}  // namespace ssdcache::storage
