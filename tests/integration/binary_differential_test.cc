// Differential test of the binary protocol against Debian's memcached 1.6.18: the same request
// bytes go to both servers and the responses must be equal once cas values are replaced by their
// order of appearance (the values differ, their equality pattern must not) and the version string
// is masked. Each script entry is followed by a noop probe (its own opaque), which marks the end of
// the entry's responses, quiet requests included; an entry the server answers by closing the
// connection ends with "<closed>" and the script goes on on a new connection.
#include <unistd.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "binary_wire.h"
#include "gtest/gtest.h"
#include "harness.h"

namespace ssdcache::integration {
namespace {

using testing_binary::Be;
using testing_binary::Req;

constexpr uint32_t kProbeOpaque = 0xfeedf00d;

std::string Hex(std::string_view s) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (char c : s) {
    out += kDigits[static_cast<uint8_t>(c) >> 4];
    out += kDigits[static_cast<uint8_t>(c) & 15];
  }
  return out;
}

// One entry's responses as text, cas values as ordinals in `cas_ids` (shared by the run).
std::string ReadEntry(Client& c, std::map<uint64_t, int>& cas_ids) {
  std::string out;
  for (;;) {
    const std::string h = c.ReadExact(24);
    if (h.size() < 24) return out + (c.peer_closed() ? "<closed>" : "<timeout " + Hex(h) + ">");
    const size_t keylen = testing_binary::Load(h.substr(2, 2));
    const size_t extlen = static_cast<uint8_t>(h[4]);
    const std::string body = c.ReadExact(testing_binary::Load(h.substr(8, 4)));
    const uint32_t opaque = static_cast<uint32_t>(testing_binary::Load(h.substr(12, 4)));
    const uint64_t cas = testing_binary::Load(h.substr(16, 8));
    if (opaque == kProbeOpaque && static_cast<uint8_t>(h[1]) == 0x0a) return out;
    const int cas_id = cas == 0 ? 0 : cas_ids.emplace(cas, cas_ids.size() + 1).first->second;
    std::string value = body.substr(std::min(body.size(), extlen + keylen));
    if (static_cast<uint8_t>(h[1]) == 0x0b) value = "<version>";
    out += "[" + Hex(h.substr(0, 2)) + " st=" + Hex(h.substr(6, 2)) +
           " opq=" + std::to_string(opaque) + " cas#" + std::to_string(cas_id) +
           " ext=" + Hex(body.substr(0, extlen)) + " key=" + body.substr(extlen, keylen) +
           " val=" + Hex(value) + "]";
  }
}

std::vector<std::string> RunScript(Target target, const std::vector<std::string>& script) {
  ServerOptions options;
  options.target = target;
  ServerProcess server(options);
  std::vector<std::string> replies;
  const ::testing::AssertionResult started = server.Start();
  if (!started) {
    ADD_FAILURE() << started.message();
    return replies;
  }
  std::map<uint64_t, int> cas_ids;
  Client c;
  EXPECT_TRUE(c.Connect(server.port()));
  for (const std::string& entry : script) {
    EXPECT_TRUE(c.Send(entry + Req(0x0a, {}, {}, {}, kProbeOpaque)));
    replies.push_back(ReadEntry(c, cas_ids));
    if (replies.back().ends_with(">")) {
      c.Close();
      EXPECT_TRUE(c.Connect(server.port()));
    }
  }
  return replies;
}

std::string Store(uint8_t op, std::string_view key, std::string_view value, uint32_t flags = 0,
                  uint64_t cas = 0) {
  return Req(op, Be(flags, 4) + Be(0, 4), key, value, 7, cas);
}
std::string Keyed(uint8_t op, std::string_view key, std::string_view extras = {}) {
  return Req(op, extras, key, {}, 9);
}
std::string Arith(uint8_t op, std::string_view key, uint64_t delta, uint64_t initial,
                  uint32_t exptime) {
  return Req(op, Be(delta, 8) + Be(initial, 8) + Be(exptime, 4), key, {}, 11);
}

TEST(BinaryDifferential, ScriptMatchesMemcached) {
  if (::access("/usr/bin/memcached", X_OK) != 0) GTEST_SKIP() << "no /usr/bin/memcached";
  const std::vector<std::string> script = {
      Store(0x01, "k", "hello", 0xdeadbeef),
      Keyed(0x00, "k") + Keyed(0x0c, "k") + Keyed(0x09, "k") + Keyed(0x0d, "k"),
      Keyed(0x00, "miss") + Keyed(0x0c, "miss") + Keyed(0x09, "miss") + Keyed(0x0d, "miss"),
      Store(0x02, "k", "x") + Store(0x12, "k", "x") + Store(0x02, "new", "n") +
          Store(0x12, "new2", "n"),
      Store(0x03, "none", "x") + Store(0x13, "none", "x") + Store(0x03, "k", "r"),
      Store(0x11, "q", "quiet") + Keyed(0x00, "q"),
      Store(0x01, "k", "c1") + Keyed(0x00, "k"),
      Store(0x01, "k", "bad cas", 0, 12345) + Store(0x01, "nokey", "v", 0, 12345),
      Req(0x0e, {}, "k", "+end", 1) + Req(0x0f, {}, "k", "start+", 1) + Keyed(0x00, "k"),
      Req(0x0e, {}, "none", "x", 1) + Req(0x19, {}, "none", "x", 1) + Req(0x1a, {}, "k", "p", 1),
      Keyed(0x04, "new") + Keyed(0x04, "new") + Keyed(0x14, "new2") + Keyed(0x14, "new2"),
      Arith(0x05, "n", 1, 0, 0xffffffff) + Arith(0x05, "n", 1, 100, 0) + Arith(0x05, "n", 7, 0, 0),
      Arith(0x06, "n", 3, 0, 0) + Arith(0x15, "n", 1, 0, 0) + Arith(0x16, "n", 1, 0, 0) +
          Keyed(0x00, "n"),
      Arith(0x06, "m", 1, 5, 0) + Arith(0x06, "m", 10, 0, 0) + Arith(0x05, "m", 1, 0, 0),
      Arith(0x05, "k", 1, 0, 0) + Arith(0x15, "k", 1, 0, 0),
      Store(0x01, "big", std::to_string(UINT64_MAX)) + Arith(0x05, "big", 1, 0, 0),
      Store(0x01, "t", "tv", 5) + Keyed(0x1c, "t", Be(100, 4)) + Keyed(0x1d, "t", Be(100, 4)) +
          Keyed(0x23, "t", Be(100, 4)) + Keyed(0x1e, "t", Be(100, 4)) +
          Keyed(0x24, "t", Be(100, 4)),
      Keyed(0x1c, "miss", Be(1, 4)) + Keyed(0x1d, "miss", Be(1, 4)) +
          Keyed(0x1e, "miss", Be(1, 4)) + Keyed(0x23, "miss", Be(1, 4)) +
          Keyed(0x24, "miss", Be(1, 4)),
      Store(0x01, "gone", "v") + Keyed(0x1c, "gone", Be(0xffffffff, 4)),
      Req(0x0b) + Req(0x0a),
      Req(0x40) + Req(0x0a),
      Req(0x08) + Keyed(0x00, "k") + Req(0x18) + Req(0x08, Be(0, 4)),
      Store(0x01, "", "v"),
      Store(0x01, "k", "v") + Keyed(0x00, "k") + Req(0x00, Be(0, 4), "k"),
      Keyed(0x00, "after.close"),
      Store(0x01, std::string(251, 'k'), "v"),
      Store(0x01, "huge", std::string(2 << 20, 'h')) + Keyed(0x00, "huge"),
      Req(0x17) + Req(0x0a),
      Keyed(0x00, "k") + Req(0x07),
  };
  const std::vector<std::string> reference = RunScript(Target::kMemcached, script);
  const std::vector<std::string> candidate = RunScript(CurrentTarget(), script);
  ASSERT_EQ(candidate.size(), reference.size());
  for (size_t i = 0; i < script.size(); ++i) {
    EXPECT_EQ(candidate[i], reference[i]) << "script entry #" << i;
  }
}

}  // namespace
}  // namespace ssdcache::integration
