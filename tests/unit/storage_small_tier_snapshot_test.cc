// The small-object tier's snapshot (small_tier_snapshot.cc): a saved image loads into a new tier
// without reading a set and answers every lookup as the tier that saved it (and as a Rebuild()
// would); a corrupt or mismatched image is refused with its reason and changes nothing; a tier
// that is not settled (log records, IO, a void set) refuses to save.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "small_tier_fixture.h"

namespace ssdcache::storage {
namespace {

// Counts the synchronous reads a restart makes (the memory backend counts only async ones).
class CountingBackend final : public ForwardingBackend {
 public:
  explicit CountingBackend(IoBackend& inner) : ForwardingBackend(inner) {}
  int64_t ReadSync(void* buf, size_t len, uint64_t offset) override {
    ++sync_reads;
    return ForwardingBackend::ReadSync(buf, len, offset);
  }
  int sync_reads = 0;
};

class SmallTierSnapshotTest : public SmallTierTest {
 protected:
  // 64 sets: three keys each, a fourth deleted, one set left empty; a few hits on set 2.
  void Fill() {
    SmallTierOptions o;
    o.sets = 64;
    Open(o);
    uint64_t w = 0;
    for (uint64_t set = 0; set < 63; ++set) {
      for (int i = 0; i < 4; ++i) Put(KeyIn(set, i), "v" + std::to_string(set * 4 + i), ++w);
      Del(KeyIn(set, 3), ++w);
    }
    FlushAll(true);
    for (int i = 0; i < 2; ++i) EXPECT_EQ(Get(KeyIn(2, i)), "v" + std::to_string(8 + i));
  }
  std::vector<char> Save() {
    std::vector<char> image(tier_->SnapshotBytes());
    EXPECT_TRUE(tier_->SaveSnapshot(image));
    return image;
  }
  // How each key is answered: "miss" (no IO), "read:<value>" or "read:miss" (a set read).
  std::vector<std::string> Answers() {
    std::vector<std::string> out;
    for (uint64_t set = 0; set < 64; ++set) {
      for (int i = 0; i < 6; ++i) {
        SmallTierLookup kind;
        const std::optional<std::string> v = Get(KeyIn(set, i), &kind);
        out.push_back(kind == SmallTierLookup::kMiss ? "miss" : "read:" + v.value_or("miss"));
      }
    }
    return out;
  }
};

TEST_F(SmallTierSnapshotTest, ALoadedImageAnswersAsTheSavedTierWithoutReadingASet) {
  Fill();
  const std::vector<char> image = Save();
  EXPECT_EQ(image.size(), 80u + 64 * 160 / 8 + 64 * 32 / 8 + kSizeSteps * 8);
  SmallTierOptions odd = options_;
  odd.sets = 3;
  odd.filter_bits = 9;
  odd.hit_bits = 5;
  EXPECT_EQ(SmallTier::SnapshotBytesFor(odd), 80u + 8 + 8 + kSizeSteps * 8);  // whole words
  // Pinned in literals: the engine sizes the image region from this at the defaults, and the
  // region places disk slab 0 on a formatted device (engine_small_image.cc), so a change of any
  // of these (the header, the default filter and hit bits, the size steps) moves the slabs of
  // every device formatted before: it needs a kFormatVersion bump (item.h) with it.
  SmallTierOptions defaults;
  defaults.sets = 1000;
  EXPECT_EQ(SmallTier::SnapshotBytesFor(defaults), 80u + 20000 + 4000 + 4032);
  const uint64_t items = tier_->stats().items;
  EXPECT_EQ(items, 63u * 3);
  const std::vector<uint64_t> by_size = tier_->set_items_by_size();
  const std::vector<std::string> before = Answers();
  // A restart that loads the image: no read of the tier's region, sync or async.
  Open(options_);
  CountingBackend counting(*aio_);
  SmallTier loaded(counting, options_);
  loaded.set_now(1000);
  const SmallTierRebuild r = loaded.LoadSnapshot(image);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.items, items);
  EXPECT_EQ(r.max_wseq, 63u * 5 - 1);  // the last erase needed no tombstone
  EXPECT_EQ(counting.sync_reads, 0);
  EXPECT_EQ(io().reads, 0u);
  EXPECT_EQ(loaded.stats().items, items);
  EXPECT_EQ(loaded.set_items_by_size(), by_size);  // the per-class item counts
  // The same state: saved again, the image is the same bytes (filters, hit bits, counts).
  std::vector<char> again(loaded.SnapshotBytes());
  ASSERT_TRUE(loaded.SaveSnapshot(again));
  EXPECT_EQ(again, image);
  // The same answers as the tier that saved it, and as a tier rebuilt from the sets (whose hit
  // bits start clear: the filters are what lookups see).
  tier_ = std::make_unique<SmallTier>(counting, options_);
  tier_->set_now(1000);
  ASSERT_TRUE(tier_->LoadSnapshot(image).ok);
  EXPECT_EQ(Answers(), before);
  Open(options_);
  ASSERT_TRUE(tier_->Rebuild(nullptr).ok);
  EXPECT_EQ(Answers(), before);
}

// A flush_all after the load whose floor is below the sets' records keeps their filters: the
// load told the tier how new the sets' records are.
TEST_F(SmallTierSnapshotTest, AFlushAfterALoadKeepsTheNewerRecords) {
  Fill();
  const std::vector<char> image = Save();
  Open(options_);
  ASSERT_TRUE(tier_->LoadSnapshot(image).ok);
  tier_->FlushBelow(100);
  EXPECT_EQ(Get(KeyIn(62, 0)), "v248");       // wseq 311
  EXPECT_EQ(Get(KeyIn(1, 0)), std::nullopt);  // wseq 6
}

TEST_F(SmallTierSnapshotTest, ACorruptOrMismatchedImageIsRefusedAndChangesNothing) {
  Fill();
  const std::vector<char> image = Save();
  const SmallTierOptions saved = options_;  // Open() sets options_
  auto load = [&](const std::vector<char>& img, SmallTierOptions o) {
    Open(o);
    const SmallTierRebuild r = tier_->LoadSnapshot(img);
    EXPECT_FALSE(r.ok) << r.error;
    EXPECT_EQ(tier_->stats().items, 0u);
    EXPECT_EQ(Get(KeyIn(1, 0), nullptr), std::nullopt);  // empty filters: nothing was loaded
    return r.error;
  };
  std::vector<char> flipped = image;
  flipped[80 + 100] ^= 4;  // a filter bit
  EXPECT_NE(load(flipped, saved).find("CRC"), std::string::npos);
  EXPECT_NE(load(std::vector<char>(image.begin(), image.end() - 8), saved).find("bytes"),
            std::string::npos);
  EXPECT_NE(load({}, saved).find("no image"), std::string::npos);
  SmallTierOptions o = saved;
  o.epoch = 78;  // another format of the device (Open() sets 77)
  SmallTier other_epoch(*aio_, o);
  EXPECT_NE(other_epoch.LoadSnapshot(image).error.find("epoch"), std::string::npos);
  o = saved;
  o.sets = 32;
  EXPECT_NE(load(image, o).find("bytes"), std::string::npos);
  o = saved;
  o.filter_hashes = 4;
  EXPECT_NE(load(image, o).find("hashes"), std::string::npos);
  o = saved;
  o.hit_bits = 16;  // fewer hit bits: a smaller image
  EXPECT_FALSE(load(image, o).empty());
  // Another probe function (the print in the header), under a valid CRC.
  std::vector<char> probes = image;
  probes[24] ^= 1;
  std::memset(probes.data() + 8, 0, 4);
  const uint32_t crc = util::Crc32c(probes.data(), probes.size());
  std::memcpy(probes.data() + 8, &crc, 4);
  EXPECT_NE(load(probes, saved).find("probe"), std::string::npos);
  // A tier already in use refuses, keeping its own state.
  Open(saved);
  Put(KeyIn(1, 0), "new", 1000);
  EXPECT_NE(tier_->LoadSnapshot(image).error.find("not new"), std::string::npos);
  EXPECT_EQ(Get(KeyIn(1, 0)), "new");
  // The image itself was fine all along.
  Open(saved);
  EXPECT_TRUE(tier_->LoadSnapshot(image).ok);
  EXPECT_EQ(Get(KeyIn(1, 0)), "v4");
}

TEST_F(SmallTierSnapshotTest, OnlyASettledTierSaves) {
  SmallTierOptions o;
  o.sets = 16;
  Open(o, Wrap::kFaults);
  std::vector<char> image(tier_->SnapshotBytes());
  EXPECT_TRUE(tier_->SaveSnapshot(image));  // a new tier: empty filters
  Put(KeyIn(4, 0), "x", 1);
  Put(KeyIn(5, 0), "z", 2);
  EXPECT_FALSE(tier_->SaveSnapshot(image));  // log records
  tier_->Flush(true);
  EXPECT_FALSE(tier_->SaveSnapshot(image));  // the move in flight
  aio_->Drain();
  EXPECT_TRUE(tier_->SaveSnapshot(image));
  EXPECT_FALSE(tier_->SaveSnapshot(std::span<char>(image).first(image.size() - 1)));
  // A void set: its content is unknown, a restart must read the sets.
  InjectAll("write_eio=1");
  Put(KeyIn(4, 1), "y", 3);
  FlushAll();
  faults_->set_injector(nullptr);
  ASSERT_EQ(tier_->stats().write_errors, 1u);
  EXPECT_FALSE(tier_->SaveSnapshot(image));
  FlushAll(true);  // the void set rewritten
  EXPECT_TRUE(tier_->SaveSnapshot(image));
  // A lookup read in flight.
  Answer a;
  ASSERT_EQ(tier_->Lookup(KeyIn(5, 0), util::HashKey(KeyIn(5, 0)), &a, 1).kind,
            SmallTierLookup::kReading);
  EXPECT_FALSE(tier_->SaveSnapshot(image));
  aio_->Drain();
  EXPECT_TRUE(tier_->SaveSnapshot(image));
}

}  // namespace
}  // namespace ssdcache::storage
