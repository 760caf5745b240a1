// The small-object tier against a model, over seeded random workloads: puts, deletes, lookups
// left in flight, flushes, completions in a seeded order, clean restarts and crashes (the log
// lost, IO in flight dropped, the journal's entries replayed by Rebuild), and journal entries
// reclaimed below UnsettledFloor() as a checkpoint would (all of them after a clean stop). A
// lookup may miss (a cache evicts) but never answers a version older than the one acknowledged
// when it was asked, nor one below a FlushBelow() (flush_all) made before it answered.
// Read-modify-writes: InsertIf/EraseIf with the version a lookup answered, at once (fresh: never
// kConflict) or later (stale: kConflict whenever the key was present and a put, a delete or a
// flush was acknowledged since).
#include <gtest/gtest.h>

#include <functional>
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
    on_done(*this);
  }
  std::string key;
  uint64_t floor = 0;  // a hit must carry at least this wseq
  bool rmw = false;    // a read-modify-write's lookup
  bool done = false;
  bool hit = false;
  std::string got;
  SmallTierVersion version;
  std::function<void(Pending&)> on_done;  // reads the version from the tier
};

// A version kept for a later read-modify-write, with what the model had acknowledged then.
struct Seen {
  std::string key;
  SmallTierVersion version;
  uint64_t changes = 0;  // Model::changes_[key]
  uint64_t flushes = 0;
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
    if (op < 40) {
      Put(key);
    } else if (op < 53) {
      Del(key);
    } else if (op < 79) {
      Get(key, false);
    } else if (op < 85) {
      Get(key, true);
    } else if (op < 90) {
      ModifyLater();
    } else if (op < 95) {
      backend_->Poll();
    } else if (op < 96) {
      // A checkpoint: void sets retried, the entries below the floor reclaimed.
      if (Uniform(2) == 0) tier_->RetryVoidSets();
      const uint64_t floor = tier_->UnsettledFloor();
      // The early-exit test a checkpoint waits on agrees with the floor, on both sides of it.
      EXPECT_TRUE(tier_->SettledBelow(floor));
      if (floor != UINT64_MAX) {
        EXPECT_FALSE(tier_->SettledBelow(floor + 1));
      }
      journal_.Reclaim(floor);
    } else if (op < 98) {
      tier_->Flush(Uniform(2) == 0);  // also rewrites void sets
    } else if (op < 99) {
      if (Uniform(3) == 0) {
        FlushAll();
      } else {
        Restart(Uniform(2) == 0);
      }
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
    if (flush_floor_ != 0) tier_->FlushBelow(flush_floor_);  // kept durable by the engine
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
      stopping_ = true;  // no new records while the stop drains
      tier_->Flush(true);
      backend_->Drain();
      stopping_ = false;
      ASSERT_TRUE(tier_->idle());
      Check();
      if (tier_->stats().write_errors - failed < SmallTier::kForcedWrites) {
        EXPECT_EQ(tier_->UnsettledFloor(), UINT64_MAX);
        journal_.max.clear();
      }
      journal_.Reclaim(tier_->UnsettledFloor());
    }
    pending_.clear();  // a crash drops their reads; a clean stop answered them
    seen_.clear();
    tier_.reset();
    backend_.reset();
    Start(true);
  }

  void Put(const std::string& key) { Store(key, nullptr); }
  void Del(const std::string& key) { Remove(key, nullptr); }

  // A put (InsertIf when `seen`): acknowledged unless refused.
  SmallTierStatus Store(const std::string& key, const SmallTierVersion* seen) {
    SetRecord r;
    r.key = key;
    const std::string value = key + "@" + std::to_string(++wseq_);
    r.value = value;
    r.wseq = wseq_;
    const uint64_t hash = util::HashKey(key);
    const SmallTierWrite w =
        seen == nullptr ? tier_->Insert(r, hash) : tier_->InsertIf(r, hash, *seen);
    if (w.status != SmallTierStatus::kOk) return w.status;  // the previous version stands
    if (w.journal) journal_.max[hash] = wseq_;
    floor_[key] = wseq_;
    ++changes_[key];
    return w.status;
  }

  SmallTierStatus Remove(const std::string& key, const SmallTierVersion* seen) {
    const uint64_t hash = util::HashKey(key);
    ++wseq_;
    const SmallTierWrite w =
        seen == nullptr ? tier_->Erase(key, hash, wseq_) : tier_->EraseIf(key, hash, wseq_, *seen);
    if (w.status != SmallTierStatus::kOk) return w.status;
    if (w.journal) journal_.max[hash] = wseq_;
    floor_[key] = wseq_ + 1;  // nothing at or below the delete may be served
    ++changes_[key];
    return w.status;
  }

  // flush_all: nothing below the floor may be served from now on, after restarts too.
  void FlushAll() {
    flush_floor_ = wseq_ + 1;
    tier_->FlushBelow(flush_floor_);
    ++flushes_;
  }

  // A lookup; a read-modify-write's (`rmw`) goes on from its answer.
  void Get(const std::string& key, bool rmw) {
    auto p = std::make_unique<Pending>();
    p->key = key;
    p->rmw = rmw;
    p->on_done = [this](Pending& done) {
      done.version = tier_->answer_version();
      Answered(done);
    };
    const SmallTierLookupResult r = tier_->Lookup(key, util::HashKey(key), p.get(), 0);
    if (r.kind == SmallTierLookup::kReading) {
      pending_.push_back(std::move(p));
      return;
    }
    p->done = true;
    p->hit = r.kind == SmallTierLookup::kHit;
    if (p->hit) p->got = std::string(r.item.value);
    p->version = r.version;
    Answered(*p);
  }

  // The answer's floor is what was acknowledged by then (a flush applies at once); its version
  // names the record found. A read-modify-write stores now (its version is fresh) or keeps the
  // version for later.
  void Answered(Pending& p) {
    p.floor = std::max(floor_[p.key], flush_floor_);
    Verify(p);
    EXPECT_EQ(p.version.present, p.hit);
    if (p.hit) {
      EXPECT_EQ(p.version.wseq, std::stoull(p.got.substr(p.got.find('@') + 1)));
    }
    if (!p.rmw) return;
    if (stopping_ || Uniform(2) == 0) {
      seen_.push_back(Seen{p.key, p.version, changes_[p.key], flushes_});
      return;
    }
    const SmallTierStatus s = Modify(p.key, p.version);
    EXPECT_NE(s, SmallTierStatus::kConflict) << p.key << ": a fresh version conflicted";
  }

  // A read-modify-write with a version kept since: it may conflict (conservatively), and must
  // when the key was present and changed since.
  void ModifyLater() {
    if (seen_.empty()) return;
    const size_t at = static_cast<size_t>(Uniform(static_cast<int>(seen_.size())));
    const Seen s = seen_[at];
    seen_.erase(seen_.begin() + static_cast<std::ptrdiff_t>(at));
    const bool changed = changes_[s.key] != s.changes || flushes_ != s.flushes;
    const SmallTierStatus st = Modify(s.key, s.version);
    if (s.version.present && changed) {
      EXPECT_EQ(st, SmallTierStatus::kConflict) << s.key << ": a stale version was accepted";
    }
  }

  SmallTierStatus Modify(const std::string& key, const SmallTierVersion& seen) {
    return Uniform(4) == 0 ? Remove(key, &seen) : Store(key, &seen);
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
  std::map<std::string, uint64_t> changes_;  // puts and deletes acknowledged per key
  std::vector<std::unique_ptr<Pending>> pending_;
  std::vector<Seen> seen_;  // versions kept for a later read-modify-write
  uint64_t flush_floor_ = 0;
  uint64_t flushes_ = 0;
  bool stopping_ = false;
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
