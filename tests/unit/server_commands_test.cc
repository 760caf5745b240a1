// Tests for server/commands without a socket: requests parsed from text run against a real engine
// (an O_DIRECT file, see engine_fixture.h) and their responses are composed into a string, as the
// connection would queue them. Device reads are completed by pumping the engine's IO: a get's
// deferred slot is answered by FinishRead, a read-modify-write command by OnFetched and a rerun.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <new>
#include <string>
#include <string_view>

#include "alloc_counter.h"
#include "engine_fixture.h"
#include "net/event_loop.h"
#include "protocol/compose.h"
#include "protocol/parser.h"
#include "server/commands.h"
#include "server/stats.h"

namespace ssdcache::server {
namespace {

using protocol::Parser;
using protocol::Request;
using storage::testing::kSlab;

// A ReplySink that composes replies into `out` and keeps deferred reads by token.
class Sink final : public ReplySink, public storage::LookupWaiter {
 public:
  void Send(const protocol::Response& reply) override { protocol::Compose(reply, out); }
  void HoldForCommit(uint64_t ticket) override {
    if (ticket != 0) ++holds;
  }
  uint64_t NextSlotToken() const override { return next_token; }
  PendingRead& Defer(uint32_t read_bytes) override {
    EXPECT_GT(read_bytes, 0u);
    PendingRead& p = deferred[next_token++];
    out += "<slot>";  // where the deferred reply goes in order
    return p;
  }
  bool ReadsPaused() const override { return paused; }

  void OnLookupDone(uint64_t token, const storage::ItemView* item,
                    const storage::IndexEntry& where) override {
    if (token == Commands::kFetchToken) {
      commands->OnFetched(item, where);
      ++fetched;
      return;
    }
    const auto reply = commands->FinishRead(deferred.at(token), item, where);
    std::string& text = finished[token];
    if (reply) protocol::Compose(*reply, text);
  }

  Commands* commands = nullptr;
  std::string out;
  std::map<uint64_t, PendingRead> deferred;
  std::map<uint64_t, std::string> finished;
  uint64_t next_token = 100;
  int holds = 0;
  int fetched = 0;
  bool paused = false;
};

class CommandsTest : public storage::testing::EngineFixture {
 protected:
  CommandsTest() : EngineFixture("commands") {}
  void SetUp() override {
    Open(16 << 20, 4 * kSlab);
    commands_ = std::make_unique<Commands>(*engine_, stats_, sink_);
    sink_.commands = commands_.get();
  }

  // Parses one request from `text` (kept alive in input_) and runs it once.
  Progress Start(const std::string& text) {
    input_ = text;
    const protocol::ParseOutcome o = parser_.Parse(input_, req_);
    EXPECT_EQ(o.status, protocol::ParseStatus::kOk) << text << o.reply;
    commands_->Begin();
    return commands_->Execute(req_, sink_);
  }
  // Runs `text` to completion, pumping device reads, and returns what it answered.
  std::string Run(const std::string& text) {
    sink_.out.clear();
    Progress p = Start(text);
    for (int i = 0; i < 10 && (p == Progress::kWaitDevice || p == Progress::kWaitMemory); ++i) {
      const int before = sink_.fetched;
      Pump();  // the read completes, or a slab write that frees a memory buffer
      if (p == Progress::kWaitDevice) {
        EXPECT_EQ(sink_.fetched, before + 1);
      }
      p = commands_->Execute(req_, sink_);
    }
    EXPECT_EQ(p, Progress::kDone) << text;
    return sink_.out;
  }
  // Runs the request again (after a wait), pumping the IO while it waits for memory.
  Progress Resume() {
    Progress p = commands_->Execute(req_, sink_);
    for (int i = 0; i < 10 && p == Progress::kWaitMemory; ++i) {
      Pump();
      p = commands_->Execute(req_, sink_);
    }
    return p;
  }
  // Whether a lookup of `key` reads the device (the read is completed, and changes nothing).
  bool OnDevice(const std::string& key) {
    storage::testing::Collector c;
    storage::ItemView v;
    const auto found = engine_->Lookup(key, util::HashKey(key), v, &c, 1, nullptr, false);
    Pump();
    return found.kind == storage::LookupResult::kPending;
  }
  // Writes other items until `key` is read from the device: small ones seal the open slabs of
  // the small classes, large ones take every memory buffer after them.
  void ToDevice(const std::string& key) {
    for (int round = 0; round < 10 && !OnDevice(key); ++round) {
      for (int i = 0; i < 1000; ++i) Set("s" + std::to_string(i), std::string(i % 100, 's'));
      EvictFromMemory();
    }
    ASSERT_TRUE(OnDevice(key));
  }

  ServerStats stats_;
  Sink sink_;
  std::unique_ptr<Commands> commands_;
  Parser parser_;
  Request req_;
  std::string input_;
};

TEST_F(CommandsTest, SetGetAndTheStorageCommands) {
  EXPECT_EQ(Run("set k 5 0 3\r\nabc\r\n"), "STORED\r\n");
  EXPECT_EQ(Run("get k\r\n"), "VALUE k 5 3\r\nabc\r\nEND\r\n");
  EXPECT_EQ(Run("add k 0 0 1\r\nx\r\n"), "NOT_STORED\r\n");
  EXPECT_EQ(Run("replace nope 0 0 1\r\nx\r\n"), "NOT_STORED\r\n");
  EXPECT_EQ(Run("append k 0 0 2\r\nde\r\n"), "STORED\r\n");
  EXPECT_EQ(Run("prepend k 0 0 1\r\n_\r\n"), "STORED\r\n");
  EXPECT_EQ(Run("get k missing\r\n"), "VALUE k 5 6\r\n_abcde\r\nEND\r\n");
  EXPECT_EQ(Run("cas nope 0 0 1 1\r\nx\r\n"), "NOT_FOUND\r\n");
  EXPECT_EQ(Run("cas k 0 0 1 1\r\nx\r\n"), "EXISTS\r\n");
  EXPECT_EQ(stats_.cmd_set, 7u);
  EXPECT_EQ(stats_.get_hits, 2u);
  EXPECT_EQ(stats_.get_misses, 1u);
  EXPECT_EQ(stats_.cas_badval, 1u);
}

TEST_F(CommandsTest, GetsReportsTheCasACasCommandTakes) {
  Run("set k 0 0 1\r\nv\r\n");
  const std::string gets = Run("gets k\r\n");
  const size_t cas_at = gets.rfind(' ', gets.find("\r\n")) + 1;
  const std::string cas = gets.substr(cas_at, gets.find("\r\n") - cas_at);
  EXPECT_EQ(Run("cas k 0 0 1 " + cas + "\r\nw\r\n"), "STORED\r\n");
  EXPECT_EQ(Run("get k\r\n"), "VALUE k 0 1\r\nw\r\nEND\r\n");
}

// The hot path: once warm, a set and a get hit allocate nothing (responses view the engine's DRAM
// and the request; composing reuses the output's capacity).
TEST_F(CommandsTest, AWarmSetAndGetHitAllocateNothing) {
  const std::string set = "set key 0 0 5\r\nhello\r\n";
  const std::string get = "get key\r\n";
  Run(set);
  Run(get);
  input_.reserve(256);
  sink_.out.reserve(4096);
  const uint64_t before = g_allocations.load();
  for (int i = 0; i < 50; ++i) {
    sink_.out.clear();
    const Progress stored = Start(set);
    const Progress got = Start(get);
    if (stored != Progress::kDone || got != Progress::kDone) break;
  }
  const uint64_t allocations = g_allocations.load() - before;
  EXPECT_EQ(allocations, 0u);
  EXPECT_EQ(sink_.out, "STORED\r\nVALUE key 0 5\r\nhello\r\nEND\r\n");
}

TEST_F(CommandsTest, ArithDeleteTouchAndNoreply) {
  Run("set n 0 0 2\r\n10\r\n");
  EXPECT_EQ(Run("incr n 5\r\n"), "15\r\n");
  EXPECT_EQ(Run("decr n 100\r\n"), "0\r\n");
  EXPECT_EQ(Run("incr nope 1\r\n"), "NOT_FOUND\r\n");
  Run("set s 0 0 1\r\nx\r\n");
  EXPECT_EQ(Run("incr s 1\r\n"),
            "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n");
  EXPECT_EQ(Run("touch n 100\r\n"), "TOUCHED\r\n");
  EXPECT_EQ(Run("delete n\r\n"), "DELETED\r\n");
  EXPECT_EQ(Run("delete n\r\n"), "NOT_FOUND\r\n");
  EXPECT_EQ(Run("set q 0 0 1 noreply\r\nx\r\n"), "");
  EXPECT_EQ(Run("delete q noreply\r\n"), "");
  EXPECT_EQ(stats_.incr_hits, 1u);
  EXPECT_EQ(stats_.decr_hits, 1u);
  EXPECT_EQ(stats_.delete_hits, 2u);
}

TEST_F(CommandsTest, ANegativeExptimeStoresAndExpiresAtOnce) {
  Run("set k 0 0 1\r\nv\r\n");
  EXPECT_EQ(Run("set k 0 -1 1\r\nw\r\n"), "STORED\r\n");
  EXPECT_EQ(Run("get k\r\n"), "END\r\n");
}

// A get of a key on the device does not wait: its reply slot is deferred, later keys go on, and
// FinishRead answers the slot when the read completes.
TEST_F(CommandsTest, AGetOnTheDeviceDefersItsSlot) {
  Run("set old 3 0 5\r\nhello\r\n");
  ToDevice("old");
  Run("set new 0 0 1\r\nn\r\n");
  sink_.out.clear();
  EXPECT_EQ(Start("gets old new\r\n"), Progress::kDone);
  EXPECT_TRUE(sink_.out.starts_with("<slot>VALUE new 0 1 ")) << sink_.out;
  EXPECT_TRUE(sink_.out.ends_with("\r\nn\r\nEND\r\n")) << sink_.out;
  ASSERT_EQ(sink_.deferred.size(), 1u);
  EXPECT_TRUE(sink_.finished.empty());
  Pump();
  ASSERT_EQ(sink_.finished.size(), 1u);
  const std::string& reply = sink_.finished.begin()->second;
  EXPECT_TRUE(reply.starts_with("VALUE old 3 5 ")) << reply;
  EXPECT_TRUE(reply.ends_with("\r\nhello\r\n")) << reply;
}

// A read-modify-write command on a key on the device waits for its read, then finishes with the
// copy it fetched.
TEST_F(CommandsTest, AReadModifyWriteWaitsForTheDevice) {
  Run("set n 0 0 2\r\n41\r\n");
  ToDevice("n");
  sink_.out.clear();
  EXPECT_EQ(Start("incr n 1\r\n"), Progress::kWaitDevice);
  EXPECT_EQ(sink_.out, "");
  Pump();
  EXPECT_EQ(sink_.fetched, 1);
  EXPECT_EQ(Resume(), Progress::kDone);
  EXPECT_EQ(sink_.out, "42\r\n");
  EXPECT_EQ(Run("get n\r\n"), "VALUE n 0 2\r\n42\r\nEND\r\n");
}

// If another client changes the key while the command waits, it reads again (no lost update).
TEST_F(CommandsTest, AChangeDuringTheWaitStartsTheCommandOver) {
  Run("set n 0 0 1\r\n1\r\n");
  ToDevice("n");
  EXPECT_EQ(Start("incr n 10\r\n"), Progress::kWaitDevice);
  Pump();
  // Another connection's set, with its own Commands, lands before the rerun.
  Sink other_sink;
  Commands other(*engine_, stats_, other_sink);
  other_sink.commands = &other;
  Request other_req;
  const std::string set = "set n 0 0 1\r\n5\r\n";
  ASSERT_EQ(parser_.Parse(set, other_req).status, protocol::ParseStatus::kOk);
  other.Begin();
  Progress p = other.Execute(other_req, other_sink);
  for (int i = 0; i < 10 && p == Progress::kWaitMemory; ++i) {
    Pump();
    p = other.Execute(other_req, other_sink);
  }
  ASSERT_EQ(p, Progress::kDone);
  sink_.out.clear();
  EXPECT_EQ(Resume(), Progress::kDone);
  EXPECT_EQ(sink_.out, "15\r\n");
}

// A read-modify-write command stores its new version while holding what it read. The store may
// open a slab in the memory buffer that still caches the old version's slab (written to the
// device, kept as a read cache): the old value must not be read from that buffer once the new
// item is written into it (prepend wrote the new value's head over the old value it then copied).
TEST_F(CommandsTest, AStoreThatTakesTheItemsBufferKeepsWhatItRead) {
  for (const char* cmd : {"prepend", "append"}) {
    SCOPED_TRACE(cmd);
    TearDown();
    SetUp();
    Run("set k00000 0 0 2\r\n10\r\n");  // the first chunk of its class's first slab
    // Fill that slab (same size: same class) until it is written and cached.
    for (int i = 1; i < 100000 && engine_->memory_slabs_cached() == 0; ++i) {
      char key[16];
      std::snprintf(key, sizeof(key), "f%05d", i);
      ASSERT_EQ(Set(key, "10"), storage::StoreResult::kStored);
      Pump();
    }
    ASSERT_EQ(engine_->memory_slabs_cached(), 1u);
    // Open slabs of other classes until the cached buffer is the only one left.
    for (size_t size = 300; engine_->memory_slabs_free() > 1 && size < 8000; size *= 2) {
      ASSERT_EQ(Set("o" + std::to_string(size), std::string(size, 'o')),
                storage::StoreResult::kStored);
    }
    ASSERT_EQ(engine_->memory_slabs_free(), 1u);
    const std::string big(9000, 'p');
    EXPECT_EQ(Run(std::string(cmd) + " k00000 0 0 9000\r\n" + big + "\r\n"), "STORED\r\n");
    const std::string want = std::string_view(cmd) == "prepend" ? big + "10" : "10" + big;
    EXPECT_EQ(Run("get k00000\r\n"),
              "VALUE k00000 0 " + std::to_string(want.size()) + "\r\n" + want + "\r\nEND\r\n");
  }
}

// A paused sink stops a multi-get between keys; the rerun resumes at the key it stopped at.
TEST_F(CommandsTest, APausedMultiGetResumesWhereItStopped) {
  Run("set a 0 0 1\r\n1\r\n");
  Run("set b 0 0 1\r\n2\r\n");
  sink_.out.clear();
  sink_.paused = true;
  EXPECT_EQ(Start("get a b\r\n"), Progress::kPaused);
  EXPECT_EQ(sink_.out, "");
  sink_.paused = false;
  EXPECT_EQ(commands_->Execute(req_, sink_), Progress::kDone);
  EXPECT_EQ(sink_.out, "VALUE a 0 1\r\n1\r\nVALUE b 0 1\r\n2\r\nEND\r\n");
  EXPECT_EQ(stats_.cmd_get, 2u);
}

TEST_F(CommandsTest, MetaGetSetDeleteArith) {
  EXPECT_EQ(Run("ms k 2 F7 T0 c\r\nhi\r\n").substr(0, 4), "HD c");
  EXPECT_EQ(Run("mg k s v f t Oop k\r\n"), "VA 2 s2 f7 t-1 Oop kk\r\nhi\r\n");
  EXPECT_EQ(Run("mg nope v Oop\r\n"), "EN Oop\r\n");
  EXPECT_EQ(Run("mg nope v q\r\n"), "");
  EXPECT_EQ(Run("ms k 1 MA\r\n!\r\n"), "HD\r\n");
  EXPECT_EQ(Run("mg k v\r\n"), "VA 3\r\nhi!\r\n");
  EXPECT_EQ(Run("ms k 1 ME\r\nx\r\n"), "NS\r\n");
  EXPECT_EQ(Run("md k q\r\n"), "");
  EXPECT_EQ(Run("md k\r\n"), "NF\r\n");
  EXPECT_EQ(Run("ma c N0 J13 v\r\n"), "VA 2\r\n13\r\n");
  EXPECT_EQ(Run("ma c D2 v\r\n"), "VA 2\r\n15\r\n");
  EXPECT_EQ(Run("ma c MD D20 v\r\n"), "VA 1\r\n0\r\n");
  EXPECT_EQ(Run("me nope\r\n"), "EN\r\n");
  const std::string me = Run("me c\r\n");
  EXPECT_TRUE(me.starts_with("ME c exp=-1 la=0 cas=")) << me;
}

// md I marks the item stale; the next mg wins the recache (W), the one after sees Z.
TEST_F(CommandsTest, MetaStaleItemsHandOutOneWinToken) {
  Run("ms k 1\r\nv\r\n");
  EXPECT_EQ(Run("md k I\r\n"), "HD\r\n");
  EXPECT_EQ(Run("mg k\r\n"), "HD X W\r\n");
  EXPECT_EQ(Run("mg k\r\n"), "HD Z X\r\n");
}

// An mg of a key on the device is deferred like a get and keeps its flags and opaque.
TEST_F(CommandsTest, AMetaGetOnTheDeviceKeepsItsFlags) {
  Run("ms k 5 F3\r\nhello\r\n");
  ToDevice("k");
  sink_.out.clear();
  EXPECT_EQ(Start("mg k v f Oxyz k\r\n"), Progress::kDone);
  EXPECT_EQ(sink_.out, "<slot>");
  input_.assign(input_.size(), '#');  // the request's bytes are gone once the read completes
  Pump();
  ASSERT_EQ(sink_.finished.size(), 1u);
  EXPECT_EQ(sink_.finished.begin()->second, "VA 5 f3 Oxyz kk\r\nhello\r\n");
}

TEST_F(CommandsTest, TooLargeValuesAreRefusedAndDropTheOldOne) {
  Run("set k 0 0 1\r\nv\r\n");
  const std::string big(kSlab, 'x');
  EXPECT_EQ(Run("set k 0 0 " + std::to_string(big.size()) + "\r\n" + big + "\r\n"),
            "SERVER_ERROR object too large for cache\r\n");
  EXPECT_EQ(Run("get k\r\n"), "END\r\n");
  Run("set k 0 0 1\r\nv\r\n");
  commands_->DropRefused("k");
  EXPECT_EQ(Run("get k\r\n"), "END\r\n");
}

// `stats reset` is declared once, in the stats table: every row it says clears, server counter
// or engine counter, reads 0 after the server's and the engine's resets (the engine zeroes all
// of its counters and none of its gauges).
TEST_F(CommandsTest, StatsResetZeroesEveryRowTheTableSaysItClears) {
  Run("set k 0 0 3\r\nabc\r\n");
  Run("get k nope\r\n");
  Run("incr k 1\r\n");
  Run("touch k 0\r\n");
  Run("delete nope\r\n");
  Run("set n 0 0 1\r\n5\r\n");
  ToDevice("n");  // slab writes and device reads
  Run("gets n\r\n");
  std::string error;
  std::unique_ptr<net::EventLoop> loop = net::EventLoop::Create(error);
  ASSERT_TRUE(loop) << error;
  auto rows = [&] {
    std::string out;
    AppendStatRows(StatSources{stats_, *engine_, *device_, *loop, 64, 1, 1, engine_->now(),
                               engine_->now(), true, 0, ConnMemory{}, false, 0},
                   out);
    std::map<std::string, std::string, std::less<>> by_name;
    for (size_t at = 0; at < out.size();) {
      const size_t end = out.find("\r\n", at);
      const std::string line = out.substr(at + 5, end - at - 5);  // after "STAT "
      by_name[line.substr(0, line.find(' '))] = line.substr(line.find(' ') + 1);
      at = end + 2;
    }
    return by_name;
  };
  const auto before = rows();
  EXPECT_NE(before.at("cmd_get"), "0");
  EXPECT_NE(before.at("slab_writes"), "0");
  EXPECT_NE(before.at("reads_device"), "0");
  engine_->ResetStats();
  ResetServerStats(stats_);
  const auto after = rows();
  for (std::string_view name : StatsClearedByReset()) {
    auto it = after.find(name);
    if (it == after.end()) {
      // Rows that print nothing here: the journal's (no journal in this engine) and TLS's (no -Z).
      EXPECT_TRUE(name.starts_with("journal_") || name.starts_with("ssl_")) << name;
      continue;
    }
    EXPECT_EQ(it->second, "0") << name;
  }
  EXPECT_EQ(after.at("curr_items"), before.at("curr_items"));  // a gauge
  EXPECT_EQ(after.at("bytes"), before.at("bytes"));
}

}  // namespace
}  // namespace ssdcache::server
