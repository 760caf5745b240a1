#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/magic.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "storage/device.h"
#include "storage/item.h"
#include "storage/libaio_backend.h"
#include "storage/memory_backend.h"
#include "util/aligned_buffer.h"
#include "util/hash.h"

namespace ssdcache::storage {
namespace {

constexpr uint64_t kKiB = 1024;
constexpr uint64_t kMiB = 1024 * kKiB;

bool IsTmpfs(const std::string& dir) {
  struct statfs fs {};
  return ::statfs(dir.c_str(), &fs) == 0 && fs.f_type == TMPFS_MAGIC;
}

// O_DIRECT needs a disk filesystem, so $TMPDIR is only used when it is not tmpfs.
std::string MakeTempDir() {
  const char* env = std::getenv("TMPDIR");
  std::string base = (env != nullptr && *env != '\0' && !IsTmpfs(env)) ? env : "/var/tmp";
  std::string templ = base + "/ssdcache-device-test-XXXXXX";
  std::vector<char> buf(templ.begin(), templ.end());
  buf.push_back('\0');
  if (::mkdtemp(buf.data()) == nullptr) return "";
  return buf.data();
}

// The production backend over the device's descriptor.
std::unique_ptr<IoBackend> Libaio(int fd, std::string& error) {
  return LibaioBackend::Create(fd, 8, error);
}

class DeviceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = MakeTempDir();
    ASSERT_FALSE(dir_.empty()) << std::strerror(errno);
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  std::string Path(const std::string& name) const { return dir_ + "/" + name; }

  std::unique_ptr<Device> OpenFile(const std::string& name, uint64_t file_size,
                                   uint32_t instance = 0, uint32_t instances = 1,
                                   uint64_t min_size = 0, bool format = false) {
    DeviceOptions o;
    o.path = Path(name);
    o.file_size = file_size;
    o.instance = instance;
    o.instances = instances;
    o.min_size = min_size;
    o.format = format;
    error_.clear();
    return Device::Open(o, Libaio, error_);
  }

  // Every error is one line that names the path.
  void ExpectOneLineError(const std::string& path) const {
    EXPECT_FALSE(error_.empty());
    EXPECT_EQ(error_.find('\n'), std::string::npos) << error_;
    EXPECT_NE(error_.find(path), std::string::npos) << error_;
  }

  static void WriteFile(const std::string& path, const std::string& data) {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::write(fd, data.data(), data.size()), static_cast<ssize_t>(data.size()));
    ::close(fd);
  }

  // Writes a valid superblock of slice `instance`/`instances` (slices of `slice` bytes) at
  // `offset`, as a run with that geometry formats it.
  static void WriteSuperblock(const std::string& path, uint64_t offset, uint32_t instance,
                              uint32_t instances, uint64_t slice) {
    Superblock sb{};
    sb.magic = kSuperMagic;
    sb.version = kFormatVersion;
    sb.device_size = slice;
    sb.slab_size = 64 * 1024;
    sb.instance = instance;
    sb.instances = instances;
    sb.crc = util::Crc32c(&sb, sizeof(sb));
    std::string block(4096, '\0');
    std::memcpy(block.data(), &sb, sizeof(sb));
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT, 0644);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::pwrite(fd, block.data(), block.size(), static_cast<off_t>(offset)), 4096);
    ::close(fd);
  }

  static uint64_t FileSize(const std::string& path) {
    struct stat st {};
    EXPECT_EQ(::stat(path.c_str(), &st), 0);
    return static_cast<uint64_t>(st.st_size);
  }

  std::string dir_;
  std::string error_;
};

TEST_F(DeviceTest, CreatesFileWithODirectAndAllocatesIt) {
  mode_t mask = ::umask(0);
  ::umask(mask);
  auto dev = OpenFile("cache", 1 * kMiB);
  ASSERT_NE(dev, nullptr) << error_;
  EXPECT_TRUE(error_.empty());
  EXPECT_EQ(dev->path(), Path("cache"));
  EXPECT_FALSE(dev->is_block_device());
  EXPECT_EQ(dev->block_size(), 4096u);
  EXPECT_EQ(dev->offset(), 0u);
  EXPECT_EQ(dev->size(), 1 * kMiB);
  ASSERT_GE(dev->fd(), 0);
  int flags = ::fcntl(dev->fd(), F_GETFL);
  EXPECT_TRUE(flags & O_DIRECT);
  EXPECT_EQ(flags & O_ACCMODE, O_RDWR);
  EXPECT_TRUE(::fcntl(dev->fd(), F_GETFD) & FD_CLOEXEC);

  struct stat st {};
  ASSERT_EQ(::stat(Path("cache").c_str(), &st), 0);
  EXPECT_EQ(static_cast<uint64_t>(st.st_size), 1 * kMiB);
  EXPECT_GE(static_cast<uint64_t>(st.st_blocks) * 512, 1 * kMiB) << "fallocate did not allocate";
  EXPECT_EQ(st.st_mode & 0777, 0644 & ~mask);
}

TEST_F(DeviceTest, RoundsFileSizeDownToBlock) {
  auto dev = OpenFile("cache", 1 * kMiB + 100);
  ASSERT_NE(dev, nullptr) << error_;
  EXPECT_EQ(dev->size(), 1 * kMiB);
  EXPECT_EQ(FileSize(Path("cache")), 1 * kMiB);
}

TEST_F(DeviceTest, ExtendsSmallerExistingFileKeepingItsData) {
  std::string data(8192, 'x');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>('a' + i % 26);
  WriteFile(Path("cache"), data);
  // Foreign data is refused (and the file left as it is) unless --format says it may go.
  EXPECT_EQ(OpenFile("cache", 64 * kKiB), nullptr);
  ExpectOneLineError(Path("cache"));
  EXPECT_NE(error_.find("--format"), std::string::npos) << error_;
  EXPECT_EQ(FileSize(Path("cache")), data.size());
  auto dev = OpenFile("cache", 64 * kKiB, 0, 1, 0, /*format=*/true);
  ASSERT_NE(dev, nullptr) << error_;
  EXPECT_EQ(dev->size(), 64 * kKiB);
  EXPECT_EQ(FileSize(Path("cache")), 64 * kKiB);
  dev.reset();

  int fd = ::open(Path("cache").c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  std::string back(data.size(), '\0');
  ASSERT_EQ(::read(fd, back.data(), back.size()), static_cast<ssize_t>(back.size()));
  ::close(fd);
  EXPECT_EQ(back, data);
}

TEST_F(DeviceTest, LargerExistingFileIsUsedUpToRequestedSize) {
  WriteFile(Path("cache"), "");
  ASSERT_EQ(::truncate(Path("cache").c_str(), 1 * kMiB), 0);
  auto dev = OpenFile("cache", 256 * kKiB);
  ASSERT_NE(dev, nullptr) << error_;
  EXPECT_EQ(dev->size(), 256 * kKiB);
  EXPECT_EQ(FileSize(Path("cache")), 1 * kMiB) << "an existing larger file must not shrink";
}

TEST_F(DeviceTest, ReopenSeesSameSize) {
  ASSERT_NE(OpenFile("cache", 128 * kKiB), nullptr) << error_;
  auto dev = OpenFile("cache", 128 * kKiB);
  ASSERT_NE(dev, nullptr) << error_;
  EXPECT_EQ(dev->size(), 128 * kKiB);
}

TEST_F(DeviceTest, SliceTwoOfFour) {
  auto dev = OpenFile("cache", 1 * kMiB, 2, 4);
  ASSERT_NE(dev, nullptr) << error_;
  EXPECT_EQ(dev->offset(), 512 * kKiB);
  EXPECT_EQ(dev->size(), 256 * kKiB);
}

TEST_F(DeviceTest, SlicesAreBlockAlignedAndDisjoint) {
  // 10 blocks in 3 slices: 3 blocks each, the last block unused.
  const uint64_t total = 10 * 4096;
  uint64_t expected_offset = 0;
  for (uint32_t i = 0; i < 3; ++i) {
    auto dev = OpenFile("cache", total, i, 3);
    ASSERT_NE(dev, nullptr) << error_;
    EXPECT_EQ(dev->size(), 3 * 4096u);
    EXPECT_EQ(dev->offset(), expected_offset);
    EXPECT_EQ(dev->offset() % dev->block_size(), 0u);
    EXPECT_LE(dev->offset() + dev->size(), total);
    expected_offset += dev->size();
  }
}

TEST_F(DeviceTest, SliceIndexOutOfRange) {
  EXPECT_EQ(OpenFile("cache", 1 * kMiB, 4, 4), nullptr);
  ExpectOneLineError(Path("cache"));
  EXPECT_NE(error_.find("4/4"), std::string::npos) << error_;

  EXPECT_EQ(OpenFile("cache", 1 * kMiB, 0, 0), nullptr);
  ExpectOneLineError(Path("cache"));
}

TEST_F(DeviceTest, TooSmallSaysHowBigItIsAndMustBe) {
  EXPECT_EQ(OpenFile("cache", 1 * kMiB, 0, 1, 2 * kMiB), nullptr);
  ExpectOneLineError(Path("cache"));
  EXPECT_NE(error_.find(std::to_string(1 * kMiB)), std::string::npos) << error_;
  EXPECT_NE(error_.find(std::to_string(2 * kMiB)), std::string::npos) << error_;
  EXPECT_FALSE(std::filesystem::exists(Path("cache"))) << "a refused new file is left behind";
}

TEST_F(DeviceTest, TooSmallSlice) {
  EXPECT_EQ(OpenFile("cache", 1 * kMiB, 1, 4, 512 * kKiB), nullptr);
  ExpectOneLineError(Path("cache"));
  EXPECT_NE(error_.find("slice 1/4"), std::string::npos) << error_;
  EXPECT_NE(error_.find(std::to_string(256 * kKiB)), std::string::npos) << error_;
  EXPECT_NE(error_.find(std::to_string(512 * kKiB)), std::string::npos) << error_;
}

TEST_F(DeviceTest, EmptySliceIsRefused) {
  // One block cannot be split four ways.
  EXPECT_EQ(OpenFile("cache", 4096, 0, 4), nullptr);
  ExpectOneLineError(Path("cache"));
}

TEST_F(DeviceTest, FileSizeBelowOneBlock) {
  EXPECT_EQ(OpenFile("cache", 100), nullptr);
  ExpectOneLineError(Path("cache"));
  EXPECT_FALSE(std::filesystem::exists(Path("cache")));
}

TEST_F(DeviceTest, MissingParentDirectory) {
  EXPECT_EQ(OpenFile("no/such/dir/cache", 1 * kMiB), nullptr);
  ExpectOneLineError(Path("no/such/dir/cache"));
  EXPECT_NE(error_.find("parent directory"), std::string::npos) << error_;
  EXPECT_NE(error_.find(Path("no/such/dir")), std::string::npos) << error_;
}

TEST_F(DeviceTest, DirectoryIsRefused) {
  ASSERT_EQ(::mkdir(Path("sub").c_str(), 0755), 0);
  EXPECT_EQ(OpenFile("sub", 1 * kMiB), nullptr);
  ExpectOneLineError(Path("sub"));
  EXPECT_NE(error_.find("directory"), std::string::npos) << error_;
}

TEST_F(DeviceTest, CharacterDeviceIsRefused) {
  DeviceOptions o;
  o.path = "/dev/null";
  EXPECT_EQ(Device::Open(o, Libaio, error_), nullptr);
  ExpectOneLineError("/dev/null");
  EXPECT_NE(error_.find("character device"), std::string::npos) << error_;
}

TEST_F(DeviceTest, EmptyPath) {
  DeviceOptions o;
  EXPECT_EQ(Device::Open(o, Libaio, error_), nullptr);
  EXPECT_FALSE(error_.empty());
}

TEST_F(DeviceTest, PermissionDenied) {
  WriteFile(Path("cache"), "");
  ASSERT_EQ(::chmod(Path("cache").c_str(), 0444), 0);
  ASSERT_EQ(::chmod(dir_.c_str(), 0755), 0);
  if (::geteuid() != 0) {
    EXPECT_EQ(OpenFile("cache", 1 * kMiB), nullptr);
    ExpectOneLineError(Path("cache"));
    EXPECT_NE(error_.find(std::strerror(EACCES)), std::string::npos) << error_;
    return;
  }
  // Root ignores file modes, so the check runs in a child that drops to an unprivileged user.
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (::setgid(65534) != 0 || ::setuid(65534) != 0) ::_exit(2);
    std::unique_ptr<Device> dev = OpenFile("cache", 1 * kMiB);
    bool ok = dev == nullptr && error_.find(Path("cache")) != std::string::npos &&
              error_.find(std::strerror(EACCES)) != std::string::npos;
    if (!ok) std::fprintf(stderr, "error: %s\n", error_.c_str());
    ::_exit(ok ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  if (WEXITSTATUS(status) == 2) GTEST_SKIP() << "cannot drop privileges";
  EXPECT_EQ(WEXITSTATUS(status), 0) << "expected a one-line EACCES error naming the path";
}

TEST_F(DeviceTest, TmpfsWithoutODirectIsExplained) {
  if (!IsTmpfs("/dev/shm")) GTEST_SKIP() << "/dev/shm is not tmpfs here";
  std::string path = "/dev/shm/ssdcache-device-test-" + std::to_string(::getpid());
  int probe = ::open(path.c_str(), O_RDWR | O_CREAT | O_DIRECT, 0644);
  if (probe >= 0) {
    ::close(probe);
    ::unlink(path.c_str());
    GTEST_SKIP() << "this kernel supports O_DIRECT on tmpfs (Linux >= 6.6)";
  }
  ::unlink(path.c_str());
  DeviceOptions o;
  o.path = path;
  o.file_size = 1 * kMiB;
  EXPECT_EQ(Device::Open(o, Libaio, error_), nullptr);
  ExpectOneLineError(path);
  EXPECT_NE(error_.find("O_DIRECT"), std::string::npos) << error_;
  EXPECT_NE(error_.find("tmpfs"), std::string::npos) << error_;
  EXPECT_FALSE(std::filesystem::exists(path)) << "the refused file is left on tmpfs";
}

// procfs refuses O_DIRECT on every kernel, so this exercises the same EINVAL path as tmpfs on
// kernels that still refuse it. Opening our own comm file for writing changes nothing.
TEST_F(DeviceTest, FilesystemWithoutODirectIsExplained) {
  const std::string path = "/proc/self/comm";
  int probe = ::open(path.c_str(), O_RDWR | O_DIRECT);
  if (probe >= 0) {
    ::close(probe);
    GTEST_SKIP() << "procfs accepted O_DIRECT";
  }
  if (errno != EINVAL) GTEST_SKIP() << "procfs refused with " << std::strerror(errno);
  DeviceOptions o;
  o.path = path;
  EXPECT_EQ(Device::Open(o, Libaio, error_), nullptr);
  ExpectOneLineError(path);
  EXPECT_NE(error_.find("does not support O_DIRECT"), std::string::npos) << error_;
  EXPECT_TRUE(std::filesystem::exists(path));
}

TEST_F(DeviceTest, SecondOpenOfTheSameSliceIsRefused) {
  auto first = OpenFile("cache", 1 * kMiB);
  ASSERT_NE(first, nullptr) << error_;
  EXPECT_EQ(OpenFile("cache", 1 * kMiB), nullptr);
  ExpectOneLineError(Path("cache"));
  EXPECT_NE(error_.find("in use"), std::string::npos) << error_;
  first.reset();  // the lock goes with the descriptor
  EXPECT_NE(OpenFile("cache", 1 * kMiB), nullptr) << error_;
}

TEST_F(DeviceTest, DisjointSlicesOpenTogetherOverlappingOnesDoNot) {
  auto zero = OpenFile("cache", 1 * kMiB, 0, 2);
  ASSERT_NE(zero, nullptr) << error_;
  auto one = OpenFile("cache", 1 * kMiB, 1, 2);
  ASSERT_NE(one, nullptr) << error_;
  EXPECT_EQ(OpenFile("cache", 1 * kMiB, 1, 2), nullptr) << "the same slice twice";
  ExpectOneLineError(Path("cache"));
  EXPECT_NE(error_.find("slice 1/2"), std::string::npos) << error_;
  EXPECT_NE(error_.find("in use"), std::string::npos) << error_;
  EXPECT_EQ(OpenFile("cache", 1 * kMiB, 0, 1), nullptr) << "the whole device overlaps both";
  one.reset();
  EXPECT_NE(OpenFile("cache", 1 * kMiB, 1, 2), nullptr) << error_;
}

TEST_F(DeviceTest, RefusedOpenLeavesTheFileAsItWas) {
  auto first = OpenFile("cache", 1 * kMiB);
  ASSERT_NE(first, nullptr) << error_;
  EXPECT_EQ(OpenFile("cache", 2 * kMiB), nullptr);
  EXPECT_EQ(FileSize(Path("cache")), 1 * kMiB) << "the refused opener grew the file";
  first.reset();
  // Refused for the geometry slice 0 was formatted with: not grown either.
  WriteSuperblock(Path("cache"), 0, 0, 1, 1 * kMiB);
  EXPECT_EQ(OpenFile("cache", 2 * kMiB, 1, 2), nullptr);
  EXPECT_EQ(FileSize(Path("cache")), 1 * kMiB) << "the refused opener grew the file";
}

TEST_F(DeviceTest, SliceOfAnotherGeometryThanSliceZeroIsRefused) {
  WriteFile(Path("cache"), "");
  WriteSuperblock(Path("cache"), 0, 0, 1, 1 * kMiB);  // formatted as -s 0/1
  EXPECT_EQ(OpenFile("cache", 1 * kMiB, 1, 2), nullptr);
  ExpectOneLineError(Path("cache"));
  EXPECT_NE(error_.find("-s 0/1"), std::string::npos) << error_;
  EXPECT_NE(error_.find(std::to_string(1 * kMiB)), std::string::npos) << error_;
  EXPECT_NE(error_.find("--format"), std::string::npos) << error_;
  // --format of slice 1 alone would leave two geometries on the device; slice 0 may change it.
  EXPECT_EQ(OpenFile("cache", 1 * kMiB, 1, 2, 0, /*format=*/true), nullptr);
  EXPECT_NE(error_.find("-s 0/1"), std::string::npos) << error_;
  EXPECT_NE(OpenFile("cache", 1 * kMiB, 0, 2, 0, /*format=*/true), nullptr) << error_;
  EXPECT_EQ(OpenFile("cache", 1 * kMiB, 0, 2), nullptr) << "slice 0 still says -s 0/1";
  EXPECT_NE(error_.find("-s 0/1"), std::string::npos) << error_;
  // The same N with another --device-size is another geometry too.
  WriteSuperblock(Path("cache"), 0, 0, 2, 256 * kKiB);
  EXPECT_EQ(OpenFile("cache", 1 * kMiB, 1, 2), nullptr);
  EXPECT_NE(error_.find(std::to_string(256 * kKiB)), std::string::npos) << error_;
  // Slice 0 of the same geometry: slice 1 may be formatted (its region is blank).
  WriteSuperblock(Path("cache"), 0, 0, 2, 512 * kKiB);
  EXPECT_NE(OpenFile("cache", 1 * kMiB, 1, 2), nullptr) << error_;
  // Its own region holding something else is refused unless --format, naming the slice.
  WriteFile(Path("other"), "");
  WriteSuperblock(Path("other"), 512 * kKiB, 1, 3, 256 * kKiB);
  EXPECT_EQ(OpenFile("other", 1 * kMiB, 1, 2), nullptr);
  EXPECT_NE(error_.find("slice 1/2"), std::string::npos) << error_;
  EXPECT_NE(error_.find("-s 1/3"), std::string::npos) << error_;
  EXPECT_NE(OpenFile("other", 1 * kMiB, 1, 2, 0, /*format=*/true), nullptr) << error_;
}

TEST_F(DeviceTest, CheckAligned) {
  auto dev = OpenFile("cache", 1 * kMiB);
  ASSERT_NE(dev, nullptr) << error_;
  util::AlignedBuffer buf(8192, 4096);
  ASSERT_FALSE(buf.empty());
  char* p = buf.data();
  EXPECT_TRUE(dev->CheckAligned(p, 4096, 0));
  EXPECT_TRUE(dev->CheckAligned(p, 8192, 1 * kMiB - 8192));
  EXPECT_TRUE(dev->CheckAligned(p, 1 * kMiB, 0));
  EXPECT_FALSE(dev->CheckAligned(p + 512, 4096, 0)) << "misaligned buffer";
  EXPECT_FALSE(dev->CheckAligned(p, 4096 + 512, 0)) << "misaligned length";
  EXPECT_FALSE(dev->CheckAligned(p, 100, 0)) << "misaligned length";
  EXPECT_FALSE(dev->CheckAligned(p, 4096, 512)) << "misaligned offset";
  EXPECT_FALSE(dev->CheckAligned(p, 0, 0)) << "empty request";
  EXPECT_FALSE(dev->CheckAligned(p, 8192, 1 * kMiB - 4096)) << "runs past the end";
  EXPECT_FALSE(dev->CheckAligned(p, 4096, 1 * kMiB)) << "starts at the end";
  EXPECT_FALSE(dev->CheckAligned(p, 1 * kMiB + 4096, 0)) << "longer than the device";
  EXPECT_FALSE(dev->CheckAligned(p, 4096, UINT64_MAX - 4095)) << "offset overflow";
  EXPECT_FALSE(dev->CheckAligned(p, UINT64_MAX - 4095, 4096)) << "length overflow";
}

TEST_F(DeviceTest, CheckAlignedRespectsSlice) {
  auto dev = OpenFile("cache", 1 * kMiB, 2, 4);  // [512 KiB, 768 KiB)
  ASSERT_NE(dev, nullptr) << error_;
  util::AlignedBuffer buf(4096, 4096);
  const char* p = buf.data();
  EXPECT_TRUE(dev->CheckAligned(p, 4096, 512 * kKiB));
  EXPECT_TRUE(dev->CheckAligned(p, 4096, 768 * kKiB - 4096));
  EXPECT_FALSE(dev->CheckAligned(p, 4096, 512 * kKiB - 4096)) << "in the previous slice";
  EXPECT_FALSE(dev->CheckAligned(p, 4096, 768 * kKiB)) << "in the next slice";
  EXPECT_FALSE(dev->CheckAligned(p, 4096, 0));
}

// The device reads its superblocks through the backend it made: a backend that fails to come up
// fails the open with its own one-line error and leaves no new file behind.
TEST_F(DeviceTest, ABackendThatCannotBeMadeFailsTheOpen) {
  DeviceOptions o;
  o.path = Path("cache");
  o.file_size = 1 * kMiB;
  auto refuse = [](int fd, std::string& error) -> std::unique_ptr<IoBackend> {
    EXPECT_GE(fd, 0);
    error = "aio: refused for the test";
    return nullptr;
  };
  EXPECT_EQ(Device::Open(o, refuse, error_), nullptr);
  EXPECT_EQ(error_, "aio: refused for the test");
  EXPECT_FALSE(std::filesystem::exists(Path("cache")));
}

// A device over a memory image has the file's geometry and the same superblock checks, through
// the image alone.
TEST_F(DeviceTest, AnImageDeviceHasTheGeometryAndChecksOfAFile) {
  auto image = std::make_shared<MemoryImage>(4 * kMiB);
  std::string error;
  DeviceOptions o;
  o.file_size = 4 * kMiB;
  o.instance = 1;
  o.instances = 2;
  auto dev = Device::OpenImage(o, MemoryBackend::Create(image, {}, error), error_);
  ASSERT_NE(dev, nullptr) << error_;
  EXPECT_EQ(dev->fd(), -1);
  EXPECT_EQ(dev->offset(), 2 * kMiB);
  EXPECT_EQ(dev->size(), 2 * kMiB);
  EXPECT_EQ(dev->block_size(), 4096u);
  dev.reset();

  // A block of garbage where slice 1's superblock belongs is refused, as on a file.
  std::memset(image->bytes.data() + 2 * kMiB, 'g', 4096);
  EXPECT_EQ(Device::OpenImage(o, MemoryBackend::Create(image, {}, error), error_), nullptr);
  EXPECT_NE(error_.find("no valid ssdcache superblock"), std::string::npos) << error_;
  o.format = true;
  EXPECT_NE(Device::OpenImage(o, MemoryBackend::Create(image, {}, error), error_), nullptr)
      << error_;
  // Smaller than the minimum: refused before any IO.
  o.min_size = 4 * kMiB;
  EXPECT_EQ(Device::OpenImage(o, MemoryBackend::Create(image, {}, error), error_), nullptr);
  EXPECT_NE(error_.find("must be at least"), std::string::npos) << error_;
}

}  // namespace
}  // namespace ssdcache::storage
