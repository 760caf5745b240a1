// The small-object tier against a model, over seeded random workloads: puts, deletes, lookups
// left in flight, flushes, completions in a seeded order, clean restarts and crashes (the log
// lost, IO in flight dropped, the journal's entries replayed by Rebuild), and journal entries
// reclaimed below UnsettledFloor() as a checkpoint would (all of them after a clean stop). A
// lookup may miss (a cache evicts) but never answers a version older than the one acknowledged
// when it was asked.
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "storage/fault.h"
#include "storage/fault_backend.h"
#include "storage/memory_backend.h"
#include "storage/small_tier.h"
#include "util/hash.h"

namespace ssdcache::storage {
namespace {

constexpr uint64_t kSets = 32;
constexpr int kKeys = 120;

// The journal as the engine would keep it: the largest wseq journaled per key hash.
struct Journal : SupersedeTest {
  bool Superseded(uint64_t hash, uint64_t wseq) const override {
    auto it = max.find(hash);
    return it != max.end() && wseq < it->second;
  }
  // What a checkpoint does: entries below the tier's UnsettledFloor() go.
  void Reclaim(uint64_t floor) {
    std::erase_if(max, [floor](const auto& e) { return e.second < floor; });
  }
  std::map<uint64_t, uint64_t> max;
};

// A lookup in flight: what was acknowledged for its key when it was asked.
struct Pending : SmallTierWaiter {
  void OnSmallLookupDone(uint64_t, const SetRecord* item) override {
    done = true;
    if (item != nullptr) got = std::string(item->value);
    hit = item != nullptr;
  }
  std::string key;
  uint64_t floor = 0;  // a hit must carry at least this wseq
  bool done = false;
  bool hit = false;
  std::string got;
};

class Model {
 public:
  explicit Model(uint64_t seed) : rng_(seed), image_(std::make_shared<MemoryImage>(kSets * 4096)) {
    std::uniform_int_distribution<int> small(64, 160);
    options_.sets = kSets;
    options_.epoch = 5;
    options_.log_bytes = static_cast<size_t>(small(rng_)) << 10;
    options_.admit_threshold = 1 + seed % 3;
    options_.hit_bits = seed % 2 == 0 ? 32 : 0;
    options_.max_moves = 1 + (seed / 2) % 4;  // each of 1-4 with faults and without
    faults_ = seed % 2 == 1;
    Start(false);
  }

  void Step() {
    const int op = Uniform(100);
    // Half the ops on 8 hot keys: a key comes back while its previous version is still moving.
    const std::string key = "k" + std::to_string(Uniform(2) == 0 ? Uniform(8) : Uniform(kKeys));
    if (op < 45) {
      Put(key);
    } else if (op < 60) {
      Del(key);
    } else if (op < 90) {
      Get(key);
    } else if (op < 95) {
      backend_->Poll();
    } else if (op < 96) {
      // A checkpoint: void sets retried, the entries below the floor reclaimed.
      if (Uniform(2) == 0) tier_->RetryVoidSets();
      journal_.Reclaim(tier_->UnsettledFloor());
    } else if (op < 98) {
      tier_->Flush(Uniform(2) == 0);  // also rewrites void sets
    } else if (op < 99) {
      Restart(Uniform(2) == 0);
    } else {
      backend_->Drain();
      Check();
    }
  }

  void Finish() {
    backend_->Drain();
    Check();
  }

 private:
  int Uniform(int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng_); }

  void Start(bool rebuild) {
    std::string error;
    auto mem = MemoryBackend::Create(image_, MemoryBackendOptions{}, error);
    ASSERT_NE(mem, nullptr) << error;
    mem->set_reorder(rng_());
    mem_ = mem.get();
    if (faults_) {
      // Failed and short reads and writes: misses and void sets, never an older version.
      auto fb = std::make_unique<FaultBackend>(std::move(mem));
      fb->set_injector(FaultInjector::Create(
          "read_eio=0.02,write_eio=0.03,write_short=0.02,seed=" + std::to_string(rng_() % 1000 + 1),
          error));
      ASSERT_TRUE(error.empty()) << error;
      backend_ = std::move(fb);
    } else {
      backend_ = std::move(mem);
    }
    tier_ = std::make_unique<SmallTier>(*backend_, options_);
    tier_->set_now(100);
    if (rebuild) {
      ASSERT_TRUE(tier_->Rebuild(journal_.max.empty() ? nullptr : &journal_).ok);
    }
  }

  // A clean stop (flush, wait) or a crash (the log and the IO in flight are lost).
  void Restart(bool crash) {
    if (crash) {
      CrashOptions crash_options;
      crash_options.seed = rng_();
      crash_options.tear_in_flight = Uniform(2) == 0;  // torn sets fail their CRC: empty
      mem_->Crash(crash_options);
    } else {
      // A clean stop: once idle, everything is settled (the restart needs no journal) unless a
      // set's write failed kForcedWrites times meanwhile (it is void: its entries must stay).
      const uint64_t failed = tier_->stats().write_errors;
      tier_->Flush(true);
      backend_->Drain();
      ASSERT_TRUE(tier_->idle());
      Check();
      if (tier_->stats().write_errors - failed < SmallTier::kForcedWrites) {
        EXPECT_EQ(tier_->UnsettledFloor(), UINT64_MAX);
        journal_.max.clear();
      }
      journal_.Reclaim(tier_->UnsettledFloor());
    }
    pending_.clear();  // a crash drops their reads; a clean stop answered them
    tier_.reset();
    backend_.reset();
    Start(true);
  }

  void Put(const std::string& key) {
    SetRecord r;
    r.key = key;
    const std::string value = key + "@" + std::to_string(++wseq_);
    r.value = value;
    r.wseq = wseq_;
    const SmallTierWrite w = tier_->Insert(r, util::HashKey(key));
    if (w.status != SmallTierStatus::kOk) return;  // refused: the previous version stands
    if (w.journal) journal_.max[util::HashKey(key)] = wseq_;
    floor_[key] = wseq_;
  }

  void Del(const std::string& key) {
    const SmallTierWrite w = tier_->Erase(key, util::HashKey(key), ++wseq_);
    if (w.status != SmallTierStatus::kOk) return;
    if (w.journal) journal_.max[util::HashKey(key)] = wseq_;
    floor_[key] = wseq_ + 1;  // nothing at or below the delete may be served
  }

  void Get(const std::string& key) {
    auto p = std::make_unique<Pending>();
    p->key = key;
    p->floor = floor_[key];
    const SmallTierLookupResult r = tier_->Lookup(key, util::HashKey(key), p.get(), 0);
    if (r.kind == SmallTierLookup::kReading) {
      pending_.push_back(std::move(p));
      return;
    }
    p->done = true;
    p->hit = r.kind == SmallTierLookup::kHit;
    if (p->hit) p->got = std::string(r.item.value);
    Verify(*p);
  }

  void Verify(const Pending& p) {
    if (!p.hit) return;
    const size_t at = p.got.find('@');
    ASSERT_NE(at, std::string::npos);
    EXPECT_EQ(p.got.substr(0, at), p.key);
    EXPECT_GE(std::stoull(p.got.substr(at + 1)), p.floor) << p.key << " answered " << p.got;
  }

  void Check() {
    for (const auto& p : pending_) {
      ASSERT_TRUE(p->done);
      Verify(*p);
    }
    pending_.clear();
  }

  std::mt19937_64 rng_;
  std::shared_ptr<MemoryImage> image_;
  SmallTierOptions options_;
  bool faults_ = false;
  MemoryBackend* mem_ = nullptr;
  std::unique_ptr<IoBackend> backend_;
  std::unique_ptr<SmallTier> tier_;
  std::map<std::string, uint64_t> floor_;
  std::vector<std::unique_ptr<Pending>> pending_;
  Journal journal_;
  uint64_t wseq_ = 0;
};

TEST(SmallTierModelTest, NoLookupAnswersAnOlderVersionThanWasAcknowledged) {
  for (uint64_t seed = 1; seed <= 16; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    Model m(seed);
    for (int i = 0; i < 3000 && !::testing::Test::HasFailure(); ++i) m.Step();
    m.Finish();
    if (::testing::Test::HasFailure()) break;
  }
}

}  // namespace
}  // namespace ssdcache::storage
