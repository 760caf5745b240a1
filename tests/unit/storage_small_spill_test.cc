// The small-object tier's device log (small_spill.h): records packed into segments written whole
// to a ring, found again through the DRAM index, verified on every read; a ring position is
// sealed over only once no entry lives there, a record of another lap, epoch or a torn write never
// parses, and a scan after a restart finds every record that verifies, oldest segment first.
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "storage/fault.h"
#include "storage/fault_backend.h"
#include "storage/memory_backend.h"
#include "storage/small_spill.h"
#include "util/hash.h"

namespace ssdcache::storage {
namespace {

constexpr uint64_t kBase = 8192;
constexpr uint32_t kSegment = 16 << 10;  // 4 pages

struct Written : SpillListener {
  void OnSpillWritten(uint64_t seq, bool ok) override { done.emplace_back(seq, ok); }
  std::vector<std::pair<uint64_t, bool>> done;
};

class SmallSpillTest : public ::testing::Test {
 protected:
  void SetUp() override { image_ = std::make_shared<MemoryImage>(4 << 20); }

  void Open(uint64_t segments, uint64_t epoch = 7, bool faults = false) {
    spill_.reset();
    faults_ = nullptr;
    std::string err;
    auto mem = MemoryBackend::Create(image_, MemoryBackendOptions{}, err);
    ASSERT_NE(mem, nullptr) << err;
    if (faults) {
      auto f = std::make_unique<FaultBackend>(std::move(mem));
      faults_ = f.get();
      aio_ = std::move(f);
    } else {
      aio_ = std::move(mem);
    }
    SpillOptions o;
    o.base = kBase;
    o.segments = segments;
    o.segment_bytes = kSegment;
    o.epoch = epoch;
    ASSERT_TRUE(o.Validate(err)) << err;
    spill_ = std::make_unique<SmallSpill>(*aio_, o, &written_);
  }
  static SetRecord Rec(const std::string& key, const std::string& value, uint64_t wseq) {
    SetRecord r;
    r.key = key;
    r.value = value;
    r.wseq = wseq;
    r.cas = wseq + 1000;
    r.flags = 42;
    r.exptime = 0;
    r.stored_at = 99;
    r.marks = 4;
    return r;
  }
  // Packs `key` (its set from its hash), sealing first when the open segment is full.
  SpillRef Put(const std::string& key, const std::string& value, uint64_t wseq, bool tomb = false) {
    if (!spill_->Fits(key.size(), tomb ? 0 : value.size())) Seal();
    return spill_->Pack(Rec(key, value, wseq), util::HashKey(key), SetOf(key), tomb);
  }
  static uint32_t SetOf(const std::string& key) { return util::HashKey(key) % 64; }
  uint64_t Seal() {
    EXPECT_TRUE(spill_->CanSeal());
    const uint64_t seq = spill_->Seal();
    aio_->Submit();
    aio_->Drain();
    return seq;
  }
  // Reads the record at `ref` back from the device, as a lookup would.
  bool Read(SpillRef ref, SpillRecord& out) {
    page_.resize(kSpillPage);
    if (aio_->ReadSync(page_.data(), kSpillPage, spill_->PageOffset(ref.page)) != kSpillPage)
      return false;
    return spill_->Parse(page_.data(), ref, spill_->SeqOf(ref), out);
  }

  std::shared_ptr<MemoryImage> image_;
  std::unique_ptr<IoBackend> aio_;
  FaultBackend* faults_ = nullptr;
  Written written_;
  std::unique_ptr<SmallSpill> spill_;
  std::string page_;
};

TEST_F(SmallSpillTest, RecordsComeBackFromTheDeviceAsWritten) {
  Open(8);
  std::map<std::string, SpillRef> refs;
  for (int i = 0; i < 60; ++i) {
    const std::string key = "key" + std::to_string(i);
    refs[key] = Put(key, std::string(50 + i * 7, static_cast<char>('a' + i % 26)), i + 1, i == 3);
  }
  const uint64_t last = Seal();
  ASSERT_GE(last, 1u) << "60 records of ~330 bytes take more than one 16 KiB segment";
  ASSERT_EQ(written_.done.size(), last + 1);
  for (const auto& [seq, ok] : written_.done) EXPECT_TRUE(ok) << seq;
  for (int i = 0; i < 60; ++i) {
    const std::string key = "key" + std::to_string(i);
    SpillRecord r;
    ASSERT_TRUE(Read(refs[key], r)) << key;
    EXPECT_EQ(r.rec.key, key);
    EXPECT_EQ(r.tomb, i == 3);
    EXPECT_EQ(r.rec.value, i == 3 ? "" : std::string(50 + i * 7, static_cast<char>('a' + i % 26)));
    EXPECT_EQ(r.rec.wseq, uint64_t(i + 1));
    EXPECT_EQ(r.rec.cas, uint64_t(i + 1001));
    EXPECT_EQ(r.rec.flags, 42u);
    EXPECT_EQ(r.rec.stored_at, 99u);
    EXPECT_EQ(r.rec.marks, 4);
    EXPECT_EQ(r.hash, util::HashKey(key));
    EXPECT_EQ(r.set, SetOf(key));
    // A record never crosses a page.
    EXPECT_LE(refs[key].slot * 8 + SmallSpill::RecordBytes(key.size(), i == 3 ? 0 : 50 + i * 7),
              kSpillPage);
  }
}

TEST_F(SmallSpillTest, TheLargestRecordFitsAPageOfItsOwn) {
  Open(4);
  const std::string big(SmallSpill::kMaxPayload - 1, 'b');
  ASSERT_TRUE(spill_->Fits(1, big.size()));
  EXPECT_FALSE(spill_->Fits(1, big.size() + 1));
  const SpillRef a = Put("k", big, 1);
  EXPECT_EQ(a.page, 1u) << "page 0 holds the segment header";
  EXPECT_EQ(a.slot, 0u);
  const SpillRef b = Put("m", big, 2);
  EXPECT_EQ(b.page, 2u);
  Seal();
  SpillRecord r;
  ASSERT_TRUE(Read(b, r));
  EXPECT_EQ(r.rec.value, big);
}

TEST_F(SmallSpillTest, TheIndexFindsCandidatesByTagAndForgetsKilledEntries) {
  Open(8);
  std::vector<std::pair<std::string, SpillRef>> put;
  for (int i = 0; i < 300; ++i) {
    const std::string key = "k" + std::to_string(i);
    put.emplace_back(key, Put(key, "v", i + 1));
  }
  Seal();
  std::vector<uint32_t> ids;
  for (const auto& [key, ref] : put)
    ids.push_back(spill_->Insert(ref, SetOf(key), util::HashKey(key)));
  EXPECT_EQ(spill_->live_entries(), 300u);
  for (size_t i = 0; i < put.size(); i += 2) spill_->Kill(ids[i]);  // every other one
  EXPECT_EQ(spill_->live_entries(), 150u);
  for (size_t i = 0; i < put.size(); ++i) {
    const auto& [key, ref] = put[i];
    bool found = false;
    spill_->ForKey(SetOf(key), util::HashKey(key), [&](uint32_t id) {
      found = found || SmallSpill::RefOf(spill_->entry(id)) == ref;
      return true;
    });
    EXPECT_EQ(found, i % 2 == 1) << key;
    EXPECT_EQ(spill_->Find(SetOf(key), ref) != kSpillNil, i % 2 == 1) << key;
  }
  uint64_t in_sets = 0;
  for (uint32_t set = 0; set < 64; ++set) spill_->ForSet(set, [&](uint32_t) { ++in_sets; });
  EXPECT_EQ(in_sets, 150u);
}

// A ring position is written over only when no live entry points into it; a reader of a record
// whose position was written over meanwhile gets a parse failure, never the new lap's bytes.
TEST_F(SmallSpillTest, APositionIsSealedOverOnlyOnceNothingLivesThere) {
  Open(3);
  std::vector<uint32_t> ids;
  std::vector<SpillRef> refs;
  for (int s = 0; s < 3; ++s) {
    const std::string key = "k" + std::to_string(s);
    refs.push_back(Put(key, "first", s + 1));
    Seal();  // entries are inserted once their segment is written
    ids.push_back(spill_->Insert(refs.back(), SetOf(key), util::HashKey(key)));
  }
  EXPECT_EQ(spill_->lap_seq(spill_->open_seq()), 0u);
  EXPECT_EQ(spill_->live_at(spill_->open_seq()), 1u);
  EXPECT_FALSE(spill_->CanSeal()) << "segment 0's record is still live";
  const uint64_t stale_seq = spill_->SeqOf(refs[0]);
  spill_->Kill(ids[0]);  // moved to its set
  ASSERT_TRUE(spill_->CanSeal());
  const SpillRef over = Put("x", "second lap", 10);
  EXPECT_EQ(Seal(), 3u);
  EXPECT_EQ(over.page / (kSegment / kSpillPage), 0u) << "seq 3 took position 0";
  page_.resize(kSpillPage);
  ASSERT_EQ(aio_->ReadSync(page_.data(), kSpillPage, spill_->PageOffset(refs[0].page)), kSpillPage);
  SpillRecord r;
  EXPECT_FALSE(spill_->Parse(page_.data(), refs[0], stale_seq, r))
      << "a read that began before the position was sealed over";
  ASSERT_TRUE(Read(over, r));
  EXPECT_EQ(r.rec.value, "second lap");
}

TEST_F(SmallSpillTest, ACorruptOrForeignRecordNeverParses) {
  Open(4);
  const SpillRef ref = Put("key", "value", 1);
  Seal();
  SpillRecord r;
  ASSERT_TRUE(Read(ref, r));
  const uint64_t at = spill_->PageOffset(ref.page) + ref.slot * 8 + sizeof(SpillRecordHeader) + 1;
  image_->bytes[at] ^= 1;
  EXPECT_FALSE(Read(ref, r)) << "a flipped bit in the key";
  image_->bytes[at] ^= 1;
  ASSERT_TRUE(Read(ref, r));
  Open(4, /*epoch=*/8);  // formatted again: the same bytes are another epoch's
  EXPECT_EQ(spill_->Scan([](SpillRef, const SpillRecord&) {}).records, 0u);
  page_.resize(kSpillPage);
  ASSERT_EQ(aio_->ReadSync(page_.data(), kSpillPage, spill_->PageOffset(ref.page)), kSpillPage);
  EXPECT_FALSE(spill_->Parse(page_.data(), ref, 0, r));
}

// After a restart the scan finds the newest lap of every position, oldest segment first, stops a
// segment's records at a torn one, and the ring goes on after the newest segment.
TEST_F(SmallSpillTest, AScanFindsEveryRecordThatVerifiesOldestFirst) {
  Open(3);
  uint64_t wseq = 0;
  std::vector<std::vector<uint32_t>> ids(5);
  for (int s = 0; s < 5; ++s) {  // two laps over 3 positions: seqs 2, 3, 4 remain
    if (s >= 3) {
      for (const uint32_t id : ids[s - 3]) spill_->Kill(id);  // moved to their sets
    }
    std::vector<std::pair<std::string, SpillRef>> refs;
    for (int i = 0; i < 3; ++i) {
      const std::string key = "s" + std::to_string(s) + "k" + std::to_string(i);
      refs.emplace_back(key, Put(key, "value of " + key, ++wseq));
    }
    Seal();
    for (const auto& [key, ref] : refs)
      ids[s].push_back(spill_->Insert(ref, SetOf(key), util::HashKey(key)));
  }
  // Tear the second record of segment 3.
  SpillRef torn;
  {
    Open(3);
    std::vector<std::pair<SpillRef, SpillRecord>> seen;
    const SpillScan scan =
        spill_->Scan([&](SpillRef ref, const SpillRecord& r) { seen.emplace_back(ref, r); });
    EXPECT_EQ(scan.segments, 3u);
    EXPECT_EQ(scan.records, 9u);
    EXPECT_EQ(scan.torn, 0u);
    EXPECT_EQ(scan.next_seq, 5u);
    ASSERT_EQ(seen.size(), 9u);
    for (size_t i = 0; i < seen.size(); ++i) {
      EXPECT_EQ(seen[i].second.segment, 2 + i / 3);
      EXPECT_EQ(seen[i].second.rec.wseq, 7 + i) << "write order";
    }
    torn = seen[4].first;
  }
  image_->bytes[spill_->PageOffset(torn.page) + torn.slot * 8 + 70] ^= 0xFF;
  Open(3);
  std::vector<uint64_t> wseqs;
  const SpillScan scan =
      spill_->Scan([&](SpillRef, const SpillRecord& r) { wseqs.push_back(r.rec.wseq); });
  EXPECT_EQ(scan.torn, 1u);
  EXPECT_EQ(wseqs, (std::vector<uint64_t>{7, 8, 9, 10, 13, 14, 15}));
  EXPECT_EQ(spill_->open_seq(), 5u);
  const SpillRef next = Put("after", "restart", 100);
  EXPECT_EQ(Seal(), 5u);
  SpillRecord r;
  ASSERT_TRUE(Read(next, r));
  EXPECT_EQ(r.rec.value, "restart");
}

TEST_F(SmallSpillTest, AFailedSegmentWriteIsReported) {
  Open(4, 7, /*faults=*/true);
  std::string err;
  faults_->set_injector(FaultInjector::Create("write_eio=1", err));
  ASSERT_TRUE(err.empty()) << err;
  Put("k", "v", 1);
  Seal();
  faults_->set_injector(nullptr);
  ASSERT_EQ(written_.done.size(), 1u);
  EXPECT_FALSE(written_.done[0].second);
  EXPECT_TRUE(spill_->CanSeal()) << "the slot is free again";
}

// Two keys of one set with different tags: each key's candidates are its own entry only.
TEST_F(SmallSpillTest, CandidatesAreFilteredByTag) {
  Open(4);
  std::string a = "a", b;
  for (int i = 0; b.empty(); ++i) {
    const std::string k = "b" + std::to_string(i);
    if (SetOf(k) == SetOf(a) && (util::HashKey(k) >> 48) != (util::HashKey(a) >> 48)) b = k;
  }
  const SpillRef ra = Put(a, "1", 1);
  const SpillRef rb = Put(b, "2", 2);
  Seal();
  spill_->Insert(ra, SetOf(a), util::HashKey(a));
  spill_->Insert(rb, SetOf(b), util::HashKey(b));
  std::vector<SpillRef> seen;
  spill_->ForKey(SetOf(a), util::HashKey(a), [&](uint32_t id) {
    seen.push_back(SmallSpill::RefOf(spill_->entry(id)));
    return true;
  });
  EXPECT_EQ(seen, std::vector<SpillRef>{ra});
  int in_set = 0;
  spill_->ForSet(SetOf(a), [&](uint32_t) { ++in_set; });
  EXPECT_EQ(in_set, 2);
}

// A segment whose records were all moved (its entries killed) is skipped by a scan once a later
// seal names a tail past it, and a segment with fewer records than its header counts is torn.
TEST_F(SmallSpillTest, AScanSkipsDrainedSegmentsAndCountsShortOnes) {
  Open(4);
  std::vector<std::vector<uint32_t>> ids(3);
  for (int s = 0; s < 3; ++s) {
    std::vector<std::pair<std::string, SpillRef>> refs;
    for (int i = 0; i < 2; ++i) {
      const std::string key = "s" + std::to_string(s) + "k" + std::to_string(i);
      refs.emplace_back(key, Put(key, "v", s * 2 + i + 1));
    }
    Seal();
    for (const auto& [key, ref] : refs)
      ids[s].push_back(spill_->Insert(ref, SetOf(key), util::HashKey(key)));
  }
  for (const uint32_t id : ids[0]) spill_->Kill(id);  // seq 0 drained
  const SpillRef big = Put("p1", std::string(3000, 'x'), 7);
  Put("p2", std::string(3000, 'y'), 8);  // pages 0 and 1 of seq 3
  EXPECT_EQ(Seal(), 3u);
  Open(4);
  std::vector<uint64_t> wseqs;
  SpillScan scan =
      spill_->Scan([&](SpillRef, const SpillRecord& r) { wseqs.push_back(r.rec.wseq); });
  EXPECT_EQ(scan.drained, 1u);
  EXPECT_EQ(scan.segments, 3u);
  EXPECT_EQ(scan.torn, 0u);
  EXPECT_EQ(wseqs, (std::vector<uint64_t>{3, 4, 5, 6, 7, 8}));
  // Seq 3's second page never reached the device: its header says 2 records, one parses.
  const uint64_t second = spill_->PageOffset(big.page) + kSpillPage;
  std::fill(image_->bytes.begin() + static_cast<std::ptrdiff_t>(second),
            image_->bytes.begin() + static_cast<std::ptrdiff_t>(second + kSpillPage), '\0');
  Open(4);
  wseqs.clear();
  scan = spill_->Scan([&](SpillRef, const SpillRecord& r) { wseqs.push_back(r.rec.wseq); });
  EXPECT_EQ(scan.torn, 1u);
  EXPECT_EQ(wseqs, (std::vector<uint64_t>{3, 4, 5, 6, 7}));
}

TEST(SpillOptionsTest, OutOfRangeOptionsAreRefusedByName) {
  std::string err;
  SpillOptions o;
  o.segments = 4;
  EXPECT_TRUE(o.Validate(err)) << err;
  o.base = 100;
  EXPECT_FALSE(o.Validate(err));
  EXPECT_NE(err.find("base"), std::string::npos);
  o.base = 0;
  o.segment_bytes = 5000;
  EXPECT_FALSE(o.Validate(err));
  EXPECT_NE(err.find("segment_bytes"), std::string::npos);
  o.segment_bytes = 64 << 10;
  o.segments = 2;
  o.max_writes = 2;
  EXPECT_FALSE(o.Validate(err));
  EXPECT_NE(err.find("max_writes"), std::string::npos);
}

}  // namespace
}  // namespace ssdcache::storage
