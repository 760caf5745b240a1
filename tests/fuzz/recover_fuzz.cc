// libFuzzer target for the warm-restart scanner (Engine::Recover) and for the engine state it
// rebuilds: a small device file gets a valid superblock and fuzzer-made slab contents, then a fresh
// engine recovers it, looks keys up through the real AIO path, optionally stores more items (so
// seals evict recovered disk slabs) and looks them up again.
//
// Geometry: 64 KiB slabs, 2 memory slabs, a 1 MiB device (the superblock slab + 15 disk slabs),
// the default classes. The device lives under $TMPDIR (if it is not tmpfs) or /var/tmp: the engine
// opens it with O_DIRECT.
//
// Input: read front to back by Reader (missing bytes read as 0), so seeds can be written by hand
// (tests/fuzz/make_corpus.py):
//   u8 setup: bit 0: a u8 follows, the superblock's flush_seq; bits 1-2: the clock (see kNows)
//   then up to kMaxOps ops, each a u8 opcode (low 2 bits) followed by its operands:
//   0 raw bytes:   u8 disk, u16 offset, u8 len, len bytes, copied into that disk slab
//   1 slab header: u8 disk, u8 piece (4 KiB units), u8 class, seq (u8, or u64 if opcode bit 7),
//                  u16 chunks_used, u8 mode (bit 0: u8 fill_id follows; 1: wrong epoch;
//                  2: wrong version; 3: wrong chunk size; 4: bad CRC); valid CRC otherwise
//   2 item:        u8 header (index among the headers written so far), u16 chunk, u8 key
//                  (< 0x80: "k<n % 16>"; else a length n & 0x1f and n key bytes follow),
//                  u16 value length, u8 mode (bit 0: tombstone; bits 1-2: exptime never / past /
//                  future / u32 follows; bit 3: bad CRC; bit 4: wrong slab_seq), u16 wseq, u8 flags
//   3 store after recovery: u8 key (as above), u16 value length
//
// Checked: Recover() succeeds and nothing crashes or leaks (ASan/UBSan), every device lookup
// completes within a bounded time, a hit returns the looked-up key, never a tombstone or an
// expired item, and a value that was written for that key (the newest stored one, for keys stored
// after recovery); stores never starve once the IO has drained.
#include <fcntl.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "storage/device.h"
#include "storage/engine.h"
#include "storage/item.h"
#include "storage/libaio_backend.h"
#include "util/aligned_buffer.h"
#include "util/hash.h"

namespace {

namespace st = ssdcache::storage;
using ssdcache::util::AlignedBuffer;
using ssdcache::util::Crc32c;
using ssdcache::util::HashKey;

#define FUZZ_CHECK(cond)                                                                           \
  do {                                                                                             \
    if (!(cond)) {                                                                                 \
      std::fprintf(stderr, "recover_fuzz: check failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__); \
      std::abort();                                                                                \
    }                                                                                              \
  } while (0)

constexpr uint32_t kSlabSize = 64 * 1024;
constexpr uint64_t kDeviceSize = 1 << 20;
constexpr uint32_t kDiskSlabs = kDeviceSize / kSlabSize - 1;
constexpr uint32_t kBlock = 4096;
constexpr size_t kMaxOps = 64;
constexpr uint32_t kNows[4] = {1'700'000'000, 1'700'000'100, 100'000, 4'000'000'000};

st::EngineOptions Options() {
  st::EngineOptions o;
  o.slab_size = kSlabSize;
  o.max_memory = 2 * kSlabSize;
  o.max_index_memory = 64 * 1024;
  o.journal_size = 0;
  o.journal_sync = st::JournalSync::kDevice;
  return o;
}

// Front-to-back reader; reads past the end yield zeros, so every input decodes.
class Reader {
 public:
  Reader(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  bool empty() const { return pos_ >= size_; }
  uint8_t U8() { return pos_ < size_ ? data_[pos_++] : 0; }
  uint16_t U16() { return static_cast<uint16_t>(U8() | (U8() << 8)); }
  uint32_t U32() { return U16() | (uint32_t{U16()} << 16); }
  uint64_t U64() { return U32() | (uint64_t{U32()} << 32); }
  std::string Bytes(size_t n) {
    std::string out;
    while (n-- > 0 && pos_ < size_) out.push_back(static_cast<char>(data_[pos_++]));
    return out;
  }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

// State kept across inputs: the device (with its libaio backend: creating an io_context per input
// would exhaust aio-max-nr under a long run) and its pristine superblock.
struct Env {
  std::string dir;
  std::string path;
  std::unique_ptr<st::Device> device;
  st::IoBackend* aio = nullptr;  // the device's
  st::Superblock super{};
  std::vector<uint32_t> chunk_sizes;
  AlignedBuffer image;        // the disk slabs being built; all zero between inputs
  AlignedBuffer super_block;  // one block holding a (possibly patched) superblock
  std::vector<bool> dirty;    // disk slabs left non-zero on the device by the last input
  bool super_dirty = false;   // the device's superblock differs from `super`
};

Env* env = nullptr;

bool IsTmpfs(const std::string& dir) {
  struct statfs fs {};
  if (::statfs(dir.c_str(), &fs) != 0) return true;
  constexpr long kTmpfsMagic = 0x01021994;
  constexpr long kRamfsMagic = 0x858458f6;
  return fs.f_type == kTmpfsMagic || fs.f_type == kRamfsMagic;
}

void Cleanup() {
  if (env == nullptr) return;
  env->device.reset();
  std::error_code ec;
  std::filesystem::remove_all(env->dir, ec);
}

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "recover_fuzz: %s\n", what.c_str());
  Cleanup();
  std::exit(1);
}

void WriteAt(uint64_t offset, const char* buf, size_t len) {
  FUZZ_CHECK(::pwrite(env->device->fd(), buf, len, static_cast<off_t>(offset)) ==
             static_cast<ssize_t>(len));
}

void DrainIo() {
  // Everything queued completes (Drain blocks); the handlers run while the engine is alive.
  env->aio->Submit();
  env->aio->Drain();
}

// Runs AIO completions until `done` or until no IO is outstanding. A completion that never comes
// is a hang: abort after a generous bound so libFuzzer reports it as a crash with its input.
void PumpUntil(const std::function<bool()>& done) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!done()) {
    env->aio->Submit();
    if (env->aio->in_flight() == 0 && env->aio->queued() == 0) return;
    pollfd p{env->aio->event_fd(), POLLIN, 0};
    ::poll(&p, 1, 100);
    env->aio->Reap();
    FUZZ_CHECK(std::chrono::steady_clock::now() < deadline);
  }
}

class Waiter final : public st::LookupWaiter {
 public:
  void OnLookupDone(uint64_t token, const st::ItemView* item, const st::IndexEntry&) override {
    FUZZ_CHECK(token == expected_token);
    FUZZ_CHECK(!done);  // exactly once
    done = true;
    if (item != nullptr) {
      hit = true;
      view = *item;
      key.assign(item->key);
      value.assign(item->value);
    }
  }
  uint64_t expected_token = 0;
  bool done = false;
  bool hit = false;
  st::ItemView view;
  std::string key;
  std::string value;
};

// What may come back for a key: the values written for it (as "<flags>:<value>"), or after a
// store, exactly the newest stored one.
struct Oracle {
  std::map<std::string, std::set<std::string>> written;
  std::map<std::string, std::string> stored;
};

std::string Entry(uint32_t flags, std::string_view value) {
  return std::to_string(flags) + ":" + std::string(value);
}

void CheckHit(const Oracle& oracle, std::string_view key, const st::ItemView& v,
              std::string_view value, uint32_t now) {
  FUZZ_CHECK(v.key == key);
  FUZZ_CHECK(!v.tombstone);
  FUZZ_CHECK(v.exptime == 0 || v.exptime > now);
  const std::string entry = Entry(v.flags, value);
  auto s = oracle.stored.find(std::string(key));
  if (s != oracle.stored.end()) {
    FUZZ_CHECK(entry == s->second);
    return;
  }
  auto w = oracle.written.find(std::string(key));
  FUZZ_CHECK(w != oracle.written.end() && w->second.count(entry) == 1);
}

void LookupAll(st::Engine& engine, const Oracle& oracle, const std::set<std::string>& keys,
               uint32_t now) {
  uint64_t token = 1;
  for (const std::string& key : keys) {
    Waiter w;
    w.expected_token = ++token;
    st::ItemView out;
    st::LookupResult r = engine.Lookup(key, HashKey(key), out, &w, w.expected_token).kind;
    if (r == st::LookupResult::kHit) {
      CheckHit(oracle, key, out, out.value, now);
    } else if (r == st::LookupResult::kPending) {
      PumpUntil([&] { return w.done; });
      FUZZ_CHECK(w.done);
      if (w.hit) {
        st::ItemView v = w.view;
        v.key = w.key;
        CheckHit(oracle, key, v, w.value, now);
      }
    }
  }
}

std::string Key(Reader& in) {
  const uint8_t sel = in.U8();
  if (sel < 0x80) return "k" + std::to_string(sel % 16);
  return in.Bytes(sel & 0x1f);
}

std::string Value(size_t len, uint64_t salt) {
  std::string v(len, 'a');
  for (size_t i = 0; i < len; ++i) v[i] = static_cast<char>('a' + (i * 7 + salt) % 26);
  return v;
}

struct Header {
  uint32_t disk;
  uint32_t off;  // of the piece inside the disk slab
  uint8_t cls;
  uint64_t seq;
};

void Init() {
  spdlog::set_level(spdlog::level::off);  // Recover logs a summary per input
  env = new Env;
  std::string base = "/var/tmp";
  if (const char* t = std::getenv("TMPDIR"); t != nullptr && *t != '\0' && !IsTmpfs(t)) base = t;
  std::string tmpl = base + "/ssdcache-recover-fuzz-XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr) Die("mkdtemp in " + base + " failed");
  env->dir = tmpl;
  env->path = env->dir + "/dev.dat";
  std::atexit(Cleanup);

  std::string error;
  st::DeviceOptions dopt;
  dopt.path = env->path;
  dopt.file_size = kDeviceSize;
  env->device = st::Device::Open(
      dopt,
      [](int fd, std::string& e) {
        return std::unique_ptr<st::IoBackend>(st::LibaioBackend::Create(fd, 64, e));
      },
      error);
  if (!env->device) Die(error);
  env->aio = &env->device->io();

  // A fresh engine formats the blank file; the superblock it wrote is the valid one to keep.
  {
    auto engine = st::Engine::Create(Options(), *env->device, *env->aio, error);
    if (!engine) Die(error);
    if (!engine->Recover(false, error)) Die(error);
    for (size_t c = 0; c < engine->classes().count(); ++c) {
      env->chunk_sizes.push_back(engine->classes().chunk_size(c));
    }
  }
  env->super_block = AlignedBuffer(kBlock, kBlock);
  FUZZ_CHECK(::pread(env->device->fd(), env->super_block.data(), kBlock,
                     static_cast<off_t>(env->device->offset())) == kBlock);
  std::memcpy(&env->super, env->super_block.data(), sizeof(env->super));
  FUZZ_CHECK(env->super.magic == st::kSuperMagic && env->super.epoch != 0);
  env->image = AlignedBuffer(size_t{kDiskSlabs} * kSlabSize, kBlock);
  env->dirty.assign(kDiskSlabs, false);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  Init();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Reader in(data, size);
  const uint8_t setup = in.U8();
  const uint64_t flush_seq = (setup & 1) != 0 ? in.U8() : 0;
  const uint32_t now = kNows[(setup >> 1) & 3];
  const auto nclasses = static_cast<uint32_t>(env->chunk_sizes.size());
  auto layout = [&](uint32_t cls) {
    return st::ChunkLayout(env->chunk_sizes[cls], kSlabSize, kBlock);
  };
  auto chunks_per_slab = [&](uint32_t cls) { return layout(cls).count(); };

  // Build the slab area in `image`.
  Oracle oracle;
  std::set<std::string> keys;
  for (int i = 0; i < 16; ++i) keys.insert("k" + std::to_string(i));
  std::vector<Header> headers;
  std::vector<std::pair<std::string, size_t>> stores;
  std::vector<bool> touched(kDiskSlabs, false);
  std::map<uint32_t, uint64_t> first_fill;  // disk -> fill_id of its piece 0
  for (size_t op = 0; op < kMaxOps && !in.empty(); ++op) {
    const uint8_t code = in.U8();
    switch (code & 3) {
      case 0: {
        const uint32_t disk = in.U8() % kDiskSlabs;
        const uint32_t off = in.U16() % kSlabSize;
        const std::string bytes = in.Bytes(in.U8());
        const size_t n = std::min<size_t>(bytes.size(), kSlabSize - off);
        std::memcpy(env->image.data() + size_t{disk} * kSlabSize + off, bytes.data(), n);
        touched[disk] = true;
        break;
      }
      case 1: {
        Header hd{};
        hd.disk = in.U8() % kDiskSlabs;
        hd.off = (in.U8() % (kSlabSize / kBlock)) * kBlock;
        hd.cls = static_cast<uint8_t>(in.U8() % (nclasses + 1));  // nclasses: invalid
        hd.seq = (code & 0x80) != 0 ? in.U64() : in.U8();
        const uint32_t cls_for_size = hd.cls < nclasses ? hd.cls : 0;
        st::SlabHeader h{};
        h.magic = st::kSlabMagic;
        h.version = st::kFormatVersion;
        h.slab_class = hd.cls;
        h.seq = hd.seq;
        h.chunk_size = env->chunk_sizes[cls_for_size];
        h.chunks_used = in.U16() % (chunks_per_slab(cls_for_size) + 2);
        h.device_epoch = env->super.epoch;
        h.seal = hd.seq;  // sealed in the order opened (a fresh superblock evicted none)
        const uint8_t mode = in.U8();
        if ((mode & 1) != 0) {
          h.fill_id = in.U8();
        } else if (hd.off == 0) {
          h.fill_id = hd.seq;
        } else {
          auto f = first_fill.find(hd.disk);
          h.fill_id = f != first_fill.end() ? f->second : hd.seq;
        }
        if (hd.off == 0) first_fill[hd.disk] = h.fill_id;
        if ((mode & 2) != 0) h.device_epoch ^= 1;
        if ((mode & 4) != 0) h.version = st::kFormatVersion + 1;
        if ((mode & 8) != 0) h.chunk_size += 8;
        h.crc = Crc32c(&h, sizeof(h));
        if ((mode & 16) != 0) h.crc ^= 1;
        std::memcpy(env->image.data() + size_t{hd.disk} * kSlabSize + hd.off, &h, sizeof(h));
        touched[hd.disk] = true;
        headers.push_back(hd);
        break;
      }
      case 2: {
        const uint8_t which = in.U8();
        const uint16_t chunk = in.U16();
        const std::string key = Key(in);
        const uint16_t vlen = in.U16();
        const uint8_t mode = in.U8();
        uint32_t exptime = 0;
        switch ((mode >> 1) & 3) {
          case 1:
            exptime = now - 1;
            break;
          case 2:
            exptime = now + 1000;
            break;
          case 3:
            exptime = in.U32();
            break;
          default:
            break;
        }
        const uint16_t wseq = in.U16();
        const uint8_t flags = in.U8();
        if (headers.empty()) break;
        const Header& hd = headers[which % headers.size()];
        const uint32_t cls = hd.cls < nclasses ? hd.cls : 0;
        const uint32_t cs = env->chunk_sizes[cls];
        const uint64_t at =
            uint64_t{hd.off} + layout(cls).offset(std::min(chunk % 64U, layout(cls).count() - 1));
        if (at + cs > kSlabSize || st::kItemHeaderSize + key.size() > cs) break;
        const bool tombstone = (mode & 1) != 0;
        const size_t room = cs - st::kItemHeaderSize - key.size();
        const std::string value = tombstone ? "" : Value(vlen % (room + 1), wseq);
        const uint32_t seq32 = static_cast<uint32_t>(hd.seq) ^ ((mode & 16) != 0 ? 1U : 0U);
        char* rec = env->image.data() + size_t{hd.disk} * kSlabSize + at;
        st::WriteItem(rec, key, value, {}, flags, exptime, /*cas=*/wseq, seq32, wseq,
                      tombstone ? st::kKindTombstone : st::kKindItem);
        if ((mode & 8) != 0) rec[st::kItemHeaderSize - 1] ^= 0x40;
        if (!tombstone) oracle.written[key].insert(Entry(flags, value));
        keys.insert(key);
        touched[hd.disk] = true;
        break;
      }
      case 3: {
        std::string key = Key(in);
        const uint16_t vlen = in.U16();
        stores.emplace_back(std::move(key), vlen);
        break;
      }
    }
  }

  // Put it on the device: the disk slabs this input or the last one touched, and the superblock.
  for (uint32_t d = 0; d < kDiskSlabs; ++d) {
    if (touched[d] || env->dirty[d]) {
      WriteAt(env->device->offset() + uint64_t{d + 1} * kSlabSize,
              env->image.data() + size_t{d} * kSlabSize, kSlabSize);
    }
  }
  if (flush_seq != 0 || env->super_dirty) {
    st::Superblock sb = env->super;
    sb.flush_seq = flush_seq;
    sb.crc = 0;
    sb.crc = Crc32c(&sb, sizeof(sb));
    std::memset(env->super_block.data(), 0, kBlock);
    std::memcpy(env->super_block.data(), &sb, sizeof(sb));
    WriteAt(env->device->offset(), env->super_block.data(), kBlock);
    env->super_dirty = flush_seq != 0;
  }
  env->dirty = touched;
  for (uint32_t d = 0; d < kDiskSlabs; ++d) {
    if (touched[d]) std::memset(env->image.data() + size_t{d} * kSlabSize, 0, kSlabSize);
  }

  std::string error;
  auto engine = st::Engine::Create(Options(), *env->device, *env->aio, error);
  FUZZ_CHECK(engine != nullptr);
  engine->set_now(now);
  if (!engine->Recover(false, error)) {
    std::fprintf(stderr, "recover_fuzz: Recover failed: %s\n", error.c_str());
    std::abort();
  }
  FUZZ_CHECK(engine->recovery().items <= size);  // every item needs an op of several bytes
  LookupAll(*engine, oracle, keys, now);

  if (!stores.empty()) {
    // Seals write the device: every disk slab must be reset before the next input.
    env->dirty.assign(kDiskSlabs, true);
    uint64_t salt = 0;
    for (const auto& [key, vlen] : stores) {
      const size_t room = engine->max_item_size() - st::kItemHeaderSize - key.size();
      const std::string value = Value(vlen % (room + 1), ++salt);
      const uint32_t flags = static_cast<uint32_t>(salt);
      st::StoreResult r = st::StoreResult::kNoMemory;
      for (int attempt = 0; attempt < 8 && r == st::StoreResult::kNoMemory; ++attempt) {
        st::StoreRequest put(key, HashKey(key), value);
        put.flags = flags;
        r = engine->Store(put).result;
        // kNoMemory: a seal was started (or is in flight); its completion frees a buffer.
        if (r == st::StoreResult::kNoMemory) PumpUntil([] { return false; });
      }
      FUZZ_CHECK(r == st::StoreResult::kStored);  // never starved once the IO drained
      oracle.stored[key] = Entry(flags, value);
      keys.insert(key);
    }
    PumpUntil([] { return false; });
    LookupAll(*engine, oracle, keys, now);
  }
  DrainIo();
  return 0;
}
