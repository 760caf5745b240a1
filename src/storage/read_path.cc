#include "storage/read_path.h"

#include <cstdlib>
#include <cstring>

#include "util/histogram.h"

namespace ssdcache::storage {

namespace {
constexpr size_t kMinReadBuffer = 4096;

size_t ReadBufferClass(size_t len) {
  size_t cls = 0;
  for (size_t size = kMinReadBuffer; size < len; size <<= 1) ++cls;
  return cls;
}
}  // namespace

ReadPath::ReadPath(Device& device, IoBackend& aio, IoHandler& handler, uint32_t slab_size)
    : device_(device), aio_(aio), handler_(handler) {
  read_buffers_.resize(ReadBufferClass(2 * size_t{slab_size}) + 1);
}

ReadPath::~ReadPath() {
  for (auto& list : read_buffers_) {
    for (char* b : list) std::free(b);
  }
  for (auto& r : all_reads_) {
    if (r->buf != nullptr) std::free(r->buf);
  }
}

ReadOp* ReadPath::Start(uint64_t start, uint64_t end, uint32_t skip, uint32_t seq32,
                        const IndexEntry& where, std::string_view key, uint64_t hash) {
  ReadOp* r = Get(end - start);
  if (r == nullptr) return nullptr;
  r->skip = skip;
  r->seq32 = seq32;
  r->where = where;
  r->hash = hash;
  r->waiter = nullptr;
  r->scan = nullptr;
  r->token = 0;
  r->kind = ReadOp::Kind::kLookup;
  r->attempts = 0;
  r->bump = true;
  r->nkey = static_cast<uint8_t>(key.size());
  if (!key.empty()) std::memcpy(r->key, key.data(), key.size());  // an undo read has no key
  r->io.handler = &handler_;
  r->io.buf = r->buf;
  r->io.len = end - start;
  r->io.offset = start;
  r->io.write = false;
  r->io.user = reinterpret_cast<uint64_t>(r);
  r->io.submitted_ns = 0;
  r->start_ns = util::NowNs();
  aio_.Read(r->io);
  return r;
}

ReadPath::Outcome ReadPath::Verify(const ReadOp& r, int64_t result, ItemView& v) {
  if (result < 0 || static_cast<uint64_t>(result) != r.io.len) return Outcome::kIoError;
  if (!VerifyItem(r.buf + r.skip, r.io.len - r.skip, r.seq32, v)) return Outcome::kCorrupt;
  if (v.key != std::string_view(r.key, r.nkey)) return Outcome::kOtherKey;
  return Outcome::kHit;
}

void ReadPath::RecordLatency(const ReadOp& r) {
  // Two stages: queued until io_submit took it (a read queued while 16 were in flight waits for
  // the end of the loop turn), then the device plus the wake-up that reaped it.
  const uint64_t submitted = r.io.submitted_ns != 0 ? r.io.submitted_ns : r.start_ns;
  queue_latency_.Record(submitted - r.start_ns);
  latency_.Record(util::NowNs() - submitted);
}

ReadOp* ReadPath::Get(size_t len) {
  size_t cls = ReadBufferClass(len);
  if (cls >= read_buffers_.size()) return nullptr;
  ReadOp* r;
  if (free_reads_.empty()) {
    all_reads_.push_back(std::make_unique<ReadOp>());
    r = all_reads_.back().get();
  } else {
    r = free_reads_.back();
    free_reads_.pop_back();
  }
  auto& list = read_buffers_[cls];
  if (!list.empty()) {
    r->buf = list.back();
    list.pop_back();
  } else {
    r->buf = static_cast<char*>(std::aligned_alloc(device_.block_size(), kMinReadBuffer << cls));
    if (r->buf == nullptr) {
      free_reads_.push_back(r);
      return nullptr;
    }
  }
  r->buf_class = cls;
  return r;
}

void ReadPath::Put(ReadOp* r) {
  read_buffers_[r->buf_class].push_back(r->buf);
  r->buf = nullptr;
  free_reads_.push_back(r);
}

}  // namespace ssdcache::storage
