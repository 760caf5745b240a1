// Differential scripts against memcached 1.6.18 for protocol details one at a time: which commands
// bump an item (h, l), exptimes and flush_all delays beyond 32 bits, how incr reads a stored
// value, and HTTP request lines (see differential.h for how a script runs).
#include <unistd.h>

#include <string>
#include <vector>

#include "differential.h"
#include "gtest/gtest.h"

namespace ssdcache::integration {
namespace {

// mg's u flag (no update): the read does not bump the item, so it is not marked fetched (h) and
// its last access (l) stays, also when T rewrites its TTL or N creates it; mg without u bumps it,
// a created item too.
TEST(Differential, MetaGetNoUpdateDoesNotBumpLikeMemcached) {
  if (::access("/usr/bin/memcached", X_OK) != 0) GTEST_SKIP() << "no /usr/bin/memcached";
  ExpectScriptMatchesMemcached({
      "ms k 3 T100\r\nabc\r\n",
      "mg k s t u h\r\n",
      "mg k s t h\r\n",
      "mg k s t h\r\n",
      "ms v 3\r\nabc\r\n",
      "mg v v u h l\r\n",
      "mg v u q k\r\n",
      "mg v v h l\r\n",
      "mg v v h l\r\n",
      "ms t 3\r\nabc\r\n",
      "mg t T30 u h t\r\n",
      "mg t h t\r\n",
      "mg t h\r\n",
      "mg n N30 u h t\r\n",
      "mg n h u\r\n",
      "mg n h\r\n",
      "mg n h\r\n",
      "mg c N30 h\r\n",
      "mg c h\r\n",
      "ms r 1 T100\r\nz\r\n",
      "mg r R30 h u\r\n",
      "mg r h\r\n",
      "ms s 1\r\nz\r\n",
      "md s I\r\n",
      "mg s h u c\r\n",
      "mg s h c\r\n",
      "mg s h c\r\n",
  });
}

// Which commands mark an item fetched (h): memcached bumps it on get, gat, touch and mg (without
// u); the read of a read-modify-write command does not (add, cas, incr, ms, md, ma that fail
// leave it unfetched), and incr/decr/ma rewrite a number that still fits in place, keeping the
// item's marks (fetched, stale), while a longer number is a new item.
TEST(Differential, FetchedMarkFollowsMemcached) {
  if (::access("/usr/bin/memcached", X_OK) != 0) GTEST_SKIP() << "no /usr/bin/memcached";
  std::vector<std::string> script;
  for (const char* step : {
           "add a1 0 0 1\r\n6\r\n",
           "replace a1 0 0 1\r\n6\r\n",
           "append a1 0 0 1\r\n6\r\n",
           "cas a1 0 0 1 999999\r\n6\r\n",
           "incr a1 1\r\n",
           "decr a1 1\r\n",
           "ms a1 1 C999999\r\n6\r\n",
           "ms a1 1 ME\r\n6\r\n",
           "md a1 C999999\r\n",
           "ma a1 C999999\r\n",
           "ma a1 q\r\n",
           "touch a1 100\r\n",
           "gat 100 a1\r\n",
           "get a1\r\n",
           "mg a1\r\n",
       }) {
    script.push_back("set a1 0 0 1\r\n5\r\n");
    script.emplace_back(step);
    script.push_back("mg a1 h\r\n");
    script.push_back("mg a1 h\r\n");
  }
  // One command per request: memcached rewrites in place only while no reply still holds the item
  // (its refcount), so a pipelined mg or get before the incr would make it a new item.
  for (const std::vector<std::string>& steps : std::vector<std::vector<std::string>>{
           {"get b1\r\n", "incr b1 1\r\n"},
           {"get b1\r\n", "incr b1 100\r\n"},
           {"get b1\r\n", "decr b1 10\r\n"},
           {"get b1\r\n", "ma b1 D100\r\n"},
           {"md b1 I\r\n", "incr b1 1\r\n"},
           {"md b1 I\r\n", "incr b1 100\r\n"},
           {"md b1 I\r\n", "mg b1 c\r\n", "ma b1\r\n"},
       }) {
    script.push_back("set b1 0 0 2\r\n19\r\n");
    script.insert(script.end(), steps.begin(), steps.end());
    script.push_back("mg b1 h c\r\n");
  }
  ExpectScriptMatchesMemcached(script);
}

// memcached keeps an exptime in an int32_t: any value that fits 64 bits is cut to its low 32 bits,
// signed. In set, touch, gat/gats and the meta T and N flags, that decides hit or miss afterwards
// and the TTL. TTLs of absolute times are left out: the two runs happen seconds apart.
TEST(Differential, ExptimesBeyond32BitsAreCutLikeMemcached) {
  if (::access("/usr/bin/memcached", X_OK) != 0) GTEST_SKIP() << "no /usr/bin/memcached";
  ExpectScriptMatchesMemcached({
      // set: 2^32-1 is -1 (expired at once), -2^32+101 is 101 s, 2^32+100 is 100 s, -2^63 is 0
      // (never), 2^63-1 is -1, 2^31 is -2^31 (expired), -2^31-1 is 2^31-1 (year 2038).
      "set e1 0 4294967295 1\r\nx\r\n",
      "get e1\r\n",
      "set e2 0 -4294967195 1\r\nx\r\n",
      "mg e2 t v\r\n",
      "set e3 0 4294967396 1\r\nx\r\n",
      "mg e3 t\r\n",
      "set e4 0 -9223372036854775808 1\r\nx\r\n",
      "mg e4 t\r\n",
      "set e5 0 9223372036854775807 1\r\nx\r\n",
      "get e5\r\n",
      "set e6 0 2147483648 1\r\nx\r\n",
      "get e6\r\n",
      "set e7 0 -2147483649 1\r\nx\r\n",
      "get e7\r\n",
      "add e1 0 4294967396 1\r\ny\r\n",
      "mg e1 t v\r\n",
      "set e8 0 00000000000000000000004294967396 1\r\nx\r\n",
      "mg e8 t\r\n",
      // Beyond 64 bits: memcached's error lines (the data line is then read as a command).
      "set e9 0 9223372036854775808 1\r\nx\r\n",
      "set e9 0 -9223372036854775809 1\r\nx\r\n",
      "set e9 0 99999999999999999999999 1\r\nx\r\n",
      // touch.
      "set t1 0 0 1\r\nx\r\n",
      "touch t1 4294967295\r\n",
      "get t1\r\n",
      "set t2 0 0 1\r\nx\r\n",
      "touch t2 -4294967195\r\n",
      "mg t2 t\r\n",
      "touch t2 4294967396\r\n",
      "mg t2 t\r\n",
      "touch t2 18446744073709551616\r\n",
      "touch t2 -9223372036854775809\r\n",
      "mg t2 t\r\n",
      // gat and gats.
      "set g1 0 0 1\r\nx\r\n",
      "gat 4294967295 g1\r\n",
      "get g1\r\n",
      "set g2 0 0 1\r\nx\r\n",
      "gats 4294967396 g2\r\n",
      "mg g2 t\r\n",
      "gat -4294967195 g2\r\n",
      "mg g2 t\r\n",
      "gat 9223372036854775808 g2\r\n",
      // The meta T and N flags (memcached read them this way already).
      "ms m1 1 T4294967396\r\nx\r\n",
      "mg m1 t v\r\n",
      "ms m2 1 T4294967295\r\nx\r\n",
      "mg m2 v\r\n",
      "ms m3 1\r\nx\r\n",
      "mg m3 T-4294967195 t\r\n",
      "mg m3 t\r\n",
      "mg m3 T4294967295 v\r\n",
      "mg m3 v\r\n",
      "mg m4 N4294967396 t v\r\n",
      "mg m4 t\r\n",
  });
}

// flush_all's delay is cut to 32 bits like an exptime, and memcached lets a flush take effect a
// second before its delay ends: 4294967295 (-1), 4294967296 (0) and -4294967295 (1) flush at once,
// 4294967396 (100 s) not yet. A delay of 1 s also flushes what is stored later in that second in
// memcached, so the script ends with it.
TEST(Differential, FlushAllDelayIsCutLikeMemcached) {
  if (::access("/usr/bin/memcached", X_OK) != 0) GTEST_SKIP() << "no /usr/bin/memcached";
  ExpectScriptMatchesMemcached({
      "set f 0 0 1\r\nx\r\n",
      "flush_all 4294967396\r\n",
      "get f\r\n",
      "flush_all 9223372036854775808\r\n",
      "flush_all -9223372036854775809 noreply\r\n",
      "get f\r\n",
      "flush_all 4294967295\r\n",
      "get f\r\n",
      "set f 0 0 1\r\nx\r\n",
      "get f\r\n",
      "flush_all 4294967296 noreply\r\n",
      "get f\r\n",
      "set f 0 0 1\r\nx\r\n",
      "flush_all -4294967295\r\n",
      "get f\r\n",
  });
}

// incr/decr and ma read the stored value with memcached's safe_strtoull: C whitespace and a sign
// may lead, whitespace and anything after it may follow, a NUL ends the number; overflow, no digits
// and a negative-looking value are not numeric. The number left behind (memcached pads a shorter
// one with spaces) is read back with get, whose spaces the normaliser drops.
TEST(Differential, IncrReadsStoredValuesLikeMemcached) {
  if (::access("/usr/bin/memcached", X_OK) != 0) GTEST_SKIP() << "no /usr/bin/memcached";
  using namespace std::string_literals;
  const std::vector<std::string> numbers = {" 5"s,
                                            "  5"s,
                                            "\t5"s,
                                            "\n5"s,
                                            "\v5"s,
                                            "\f5"s,
                                            "\r5"s,
                                            "+5"s,
                                            "5 "s,
                                            "5\t"s,
                                            "5\r"s,
                                            "5 abc"s,
                                            "5\tx"s,
                                            " +5 "s,
                                            "-0"s,
                                            "5\0zz"s,
                                            std::string(100, '0') + "5",
                                            std::string(1000, ' ') + "7",
                                            "-18446744073709551615"s,
                                            "-9223372036854775809"s};
  const std::vector<std::string> not_numbers = {"-5"s,
                                                "-1 "s,
                                                "+ 5"s,
                                                "- 5"s,
                                                "5x"s,
                                                "0x10"s,
                                                "1e3"s,
                                                "\0"s,
                                                "-9223372036854775808"s,
                                                "-18446744073709551616"s,
                                                "18446744073709551616"s,
                                                "18446744073709551615 -"s};
  std::vector<std::string> script;
  int n = 0;
  for (const std::string& value : numbers) {
    for (const char* op : {"incr", "decr"}) {
      const std::string key = "n" + std::to_string(n++);
      script.push_back("set " + key + " 0 0 " + std::to_string(value.size()) + "\r\n" + value +
                       "\r\n");
      script.push_back(std::string(op) + " " + key + " 1\r\n");
      script.push_back("get " + key + "\r\n");
    }
    const std::string key = "n" + std::to_string(n++);
    script.push_back("set " + key + " 0 0 " + std::to_string(value.size()) + "\r\n" + value +
                     "\r\n");
    script.push_back("ma " + key + " v D3\r\n");
  }
  for (const std::string& value : not_numbers) {
    const std::string key = "n" + std::to_string(n++);
    script.push_back("set " + key + " 0 0 " + std::to_string(value.size()) + "\r\n" + value +
                     "\r\n");
    script.push_back("incr " + key + " 1\r\n");
    script.push_back("decr " + key + " 1\r\n");
    script.push_back("ma " + key + " v\r\n");
  }
  ExpectScriptMatchesMemcached(script);
}

// incr/decr of a number >= 2^63 whose item reuses a chunk that held dashes: memcached 1.6.18's
// '-' check runs past the item's data into those leftovers and refuses the number, a defect the
// runner corrects (differential.h); ssdcached reads the value only, as memcached does when a NUL
// follows the data. Before the runner corrected it, the generated stream failed now and then: its
// memory holds no dashes, but pointers and times in the next chunk's header can hold the byte.
TEST(Differential, IncrOfHugeNumbersLooksAtTheValueOnly) {
  if (::access("/usr/bin/memcached", X_OK) != 0) GTEST_SKIP() << "no /usr/bin/memcached";
  const std::string dashes = "set k 0 0 30\r\n" + std::string(30, '-') + "\r\n";
  ExpectScriptMatchesMemcached({
      dashes,
      "delete k\r\n",
      "set k 7 0 20\r\n18446744073709551615\r\n",
      "incr k 1\r\n",
      "gets k\r\n",
      "incr k 5\r\n",
      dashes,
      "delete k\r\n",
      "set k 0 1000 20\r\n18446744073709551610\r\n",
      "decr k 10 noreply\r\n",
      "gets k\r\n",
      "decr k 18446744073709551600\r\n",
      "decr k abc noreply\r\n",
      "get k\r\n",
  });
}

// A set whose value is too large for any item drops the key's old value, as memcached's does,
// with noreply too (then nothing is answered); other storage commands leave it. The generated
// stream found the noreply case (SSDCACHE_DIFF_SEED=1 and 13).
TEST(Differential, TooLargeSetDropsTheOldValueLikeMemcached) {
  if (::access("/usr/bin/memcached", X_OK) != 0) GTEST_SKIP() << "no /usr/bin/memcached";
  std::vector<std::string> script;
  for (const char* noreply : {" noreply", ""}) {
    for (const char* cmd : {"set", "add", "replace", "append"}) {
      script.push_back("set k 0 0 3\r\nold\r\n");
      script.push_back(std::string(cmd) + " k 0 0 " + std::to_string(2 << 20) + noreply + "\r\n" +
                       std::string(2 << 20, 'b') + "\r\n");
      script.push_back("get k\r\n");
    }
  }
  ExpectScriptMatchesMemcached(script);
}

// memcached 1.6.18 still serves `bget`, an old name of `get`.
TEST(Differential, BgetIsGetLikeMemcached) {
  if (::access("/usr/bin/memcached", X_OK) != 0) GTEST_SKIP() << "no /usr/bin/memcached";
  ExpectScriptMatchesMemcached(
      {"set b 5 0 3\r\nabc\r\n", "bget b\r\n", "bget b nokey b\r\n", "bget\r\n", "bgets b\r\n"});
}

// memcached closes, without a reply, a connection that sends an unknown command whose last token
// begins with "HTTP/" (browsers, HTTP probes), but answers ERROR where its dispatch has an earlier
// branch for the command's name, and only looks at the first 23 tokens.
TEST(Differential, HttpRequestLinesCloseLikeMemcached) {
  if (::access("/usr/bin/memcached", X_OK) != 0) GTEST_SKIP() << "no /usr/bin/memcached";
  std::string many_tokens = "Get";
  for (int i = 0; i < 21; ++i) many_tokens += " a";
  ExpectScriptMatchesMemcached({
      "set h 0 0 1\r\nx\r\n",
      "GET / HTTP/1.0\r\n",
      "get h\r\n",  // on a new connection: the item is still there
      "POST /form HTTP/1.1\n",
      "HTTP/1.1\r\n",
      "OPTIONS * HTTP/\r\n",
      "HEAD / HTTP/1.1 \r\n",
      "GET\t/ HTTP/1.0\tjunk\r\n",
      std::string("GET / HTTP/1.0\0junk\r\n", 21),
      "prepend2 / HTTP/1.0\r\n",
      many_tokens + " HTTP/1.0 b\r\n",
      many_tokens + " a HTTP/1.0\r\n",
      "POST / HTTP/1.1 extra\r\n",
      "GET / http/1.0\r\n",
      "GET / HTTP\r\n",
      "X HTTP/1.0\r\n",
      "gx / HTTP/1.0\r\n",
      "trace / HTTP/1.0\r\n",
      "mx / HTTP/1.0\r\n",
      "get / HTTP/1.0\r\n",
      "delete h HTTP/1.0\r\n",
      "get h\r\n",
  });
}

}  // namespace
}  // namespace ssdcache::integration
