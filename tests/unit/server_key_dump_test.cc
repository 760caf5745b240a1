// The key listings' requests and lines (server/key_dump.h): memcached 1.6.18's replies to every
// lru_crawler subcommand and to stats cachedump's arguments, its URI encoding of keys, and the
// metadump and cachedump line formats.
#include <gtest/gtest.h>

#include <string>

#include "server/key_dump.h"

namespace ssdcache::server {
namespace {

std::string Crawler(std::string_view args, CrawlerSettings& s, bool dump_enabled = true) {
  const DumpRequest r = ParseLruCrawler(args, s, dump_enabled, 40);
  return r.reply.empty() ? "<dump>" : std::string(r.reply);
}

TEST(KeyDump, LruCrawlerRepliesAsMemcached) {
  CrawlerSettings s;
  EXPECT_EQ(Crawler("metadump all", s), "<dump>");
  EXPECT_EQ(Crawler("metadump hash", s), "<dump>");
  EXPECT_EQ(Crawler("metadump 1,3", s), "<dump>");
  EXPECT_EQ(Crawler("metadump 0", s), "BADCLASS invalid class id\r\n");
  EXPECT_EQ(Crawler("metadump 64", s), "BADCLASS invalid class id\r\n");
  EXPECT_EQ(Crawler("metadump x", s), "BADCLASS invalid class id\r\n");
  EXPECT_EQ(Crawler("metadump ,", s), "NOTSTARTED no items to crawl\r\n");
  EXPECT_EQ(Crawler("metadump", s), "ERROR\r\n");
  EXPECT_EQ(Crawler("metadump all x", s), "ERROR\r\n");
  EXPECT_EQ(Crawler("metadump all", s, false), "ERROR metadump not allowed\r\n");
  EXPECT_EQ(Crawler("crawl all", s), "OK\r\n");
  EXPECT_EQ(Crawler("crawl 2,5", s), "OK\r\n");
  EXPECT_EQ(Crawler("crawl hash", s), "ERROR an unknown error happened\r\n");
  EXPECT_EQ(Crawler("tocrawl 5", s), "OK\r\n");
  EXPECT_EQ(s.tocrawl, 5u);
  EXPECT_EQ(Crawler("tocrawl -1", s), "CLIENT_ERROR bad command line format\r\n");
  EXPECT_EQ(Crawler("sleep 1000000", s), "OK\r\n");
  EXPECT_EQ(s.sleep_us, 1000000u);
  EXPECT_EQ(Crawler("sleep 1000001", s), "CLIENT_ERROR sleep must be one second or less\r\n");
  EXPECT_EQ(Crawler("sleep", s), "ERROR\r\n");
  EXPECT_EQ(Crawler("", s), "ERROR\r\n");
  EXPECT_EQ(Crawler("bogus", s), "ERROR\r\n");
  EXPECT_EQ(Crawler("enable", s), "ERROR failed to start lru crawler thread\r\n");
  EXPECT_EQ(Crawler("disable", s), "OK\r\n");
  EXPECT_EQ(Crawler("metadump all", s), "CLIENT_ERROR lru crawler disabled\r\n");
  EXPECT_EQ(Crawler("crawl all", s), "CLIENT_ERROR lru crawler disabled\r\n");
  EXPECT_EQ(Crawler("disable", s), "OK\r\n");
  EXPECT_EQ(Crawler("enable", s), "OK\r\n");
  EXPECT_EQ(Crawler("metadump all", s), "<dump>");
}

TEST(KeyDump, MetadumpClassesAreOneBased) {
  CrawlerSettings s;
  const DumpRequest r = ParseLruCrawler("metadump 2,,40", s, true, 40);
  ASSERT_TRUE(r.reply.empty());
  ASSERT_EQ(r.classes.size(), 40u);
  EXPECT_TRUE(r.classes[1]);
  EXPECT_TRUE(r.classes[39]);
  EXPECT_FALSE(r.classes[0]);
  EXPECT_TRUE(ParseLruCrawler("metadump all", s, true, 40).classes.empty());
  // More classes than memcached has: their ids are accepted.
  EXPECT_TRUE(ParseLruCrawler("metadump 150", s, true, 199).reply.empty());
}

TEST(KeyDump, CachedumpArgumentsAsMemcached) {
  auto reply = [](std::string_view args, bool enabled = true) {
    const DumpRequest r = ParseCachedump(args, enabled, 40);
    return r.reply.empty() ? "<dump " + std::to_string(r.limit) + ">" : std::string(r.reply);
  };
  EXPECT_EQ(reply("cachedump 1 10"), "<dump 10>");
  EXPECT_EQ(reply("cachedump 0 0"), "<dump 0>");
  EXPECT_EQ(reply("cachedump 1 2 extra"), "<dump 2>");
  EXPECT_EQ(reply("cachedump 1"), "CLIENT_ERROR bad command line\r\n");
  EXPECT_EQ(reply("cachedump a 1"), "CLIENT_ERROR bad command line format\r\n");
  EXPECT_EQ(reply("cachedump 1 -1"), "CLIENT_ERROR bad command line format\r\n");
  EXPECT_EQ(reply("cachedump 64 1"), "CLIENT_ERROR Illegal slab id\r\n");
  EXPECT_EQ(reply("cachedump 1 1", false), "CLIENT_ERROR stats cachedump not allowed\r\n");
  EXPECT_TRUE(IsCachedump("cachedump 1 2"));
  EXPECT_TRUE(IsCachedump("cachedump"));
  EXPECT_FALSE(IsCachedump("cachedumpx 1 2"));
  EXPECT_FALSE(IsCachedump("items"));
}

TEST(KeyDump, KeysAreUriEncodedAsMemcached) {
  std::string out;
  AppendUriEncoded("a-Z_0.9~b", out);
  EXPECT_EQ(out, "a-Z_0.9~b");
  out.clear();
  AppendUriEncoded(std::string("k/%:\x01\xff ", 7), out);
  EXPECT_EQ(out, "k%2F%25%3A%01%FF%20");
}

TEST(KeyDump, LineFormats) {
  storage::ScanRecord r;
  r.key = "user:1";
  r.exptime = 0;
  r.last_access = 1700000000;
  r.cas = 42;
  r.nvalue = 5;
  r.size = 59;
  r.cls = 0;
  std::string out;
  AppendDumpLine(DumpFormat::kMetadump, r, out);
  EXPECT_EQ(out, "key=user%3A1 exp=-1 la=1700000000 cas=42 fetch=no cls=1 size=59\n");
  out.clear();
  r.exptime = 1700000100;
  r.fetched = true;
  r.cls = 4;
  AppendDumpLine(DumpFormat::kMetadump, r, out);
  EXPECT_EQ(out, "key=user%3A1 exp=1700000100 la=1700000000 cas=42 fetch=yes cls=5 size=59\n");
  out.clear();
  AppendDumpLine(DumpFormat::kCachedump, r, out);
  EXPECT_EQ(out, "ITEM user:1 [5 b; 1700000100 s]\r\n");
  out.clear();
  r.exptime = 0;
  AppendDumpLine(DumpFormat::kCachedump, r, out);
  EXPECT_EQ(out, "ITEM user:1 [5 b; 0 s]\r\n");
}

}  // namespace
}  // namespace ssdcache::server
