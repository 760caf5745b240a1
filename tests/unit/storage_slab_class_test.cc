#include <gtest/gtest.h>

#include <limits>
#include <string>
#include <vector>

#include "storage/slab_class.h"

namespace ssdcache::storage {
namespace {

std::vector<uint32_t> Sizes(const SlabClasses& c) {
  std::vector<uint32_t> out;
  for (size_t i = 0; i < c.count(); ++i) out.push_back(c.chunk_size(i));
  return out;
}

TEST(SlabClassesTest, GeometricDefaultsGiveExactClasses) {
  std::string error;
  auto c = SlabClasses::Geometric(48, 1.25, 1048512, error);
  ASSERT_TRUE(c.has_value()) << error;
  const std::vector<uint32_t> expected = {
      48,     64,     80,     104,    136,    176,    224,    280,    352,    440,   552,    696,
      872,    1096,   1376,   1720,   2152,   2696,   3376,   4224,   5280,   6600,  8256,   10320,
      12904,  16136,  20176,  25224,  31536,  39424,  49280,  61600,  77000,  96256, 120320, 150400,
      188000, 235000, 293752, 367192, 458992, 573744, 717184, 896480, 1048512};
  EXPECT_EQ(Sizes(*c), expected);
  EXPECT_EQ(c->count(), 45u);
  EXPECT_EQ(c->max_item(), 1048512u);
}

TEST(SlabClassesTest, GeometricFactorTwo) {
  std::string error;
  auto c = SlabClasses::Geometric(48, 2.0, 1048512, error);
  ASSERT_TRUE(c.has_value()) << error;
  const std::vector<uint32_t> expected = {48,     96,     192,    384,    768,   1536,
                                          3072,   6144,   12288,  24576,  49152, 98304,
                                          196608, 393216, 786432, 1048512};
  EXPECT_EQ(Sizes(*c), expected);
}

TEST(SlabClassesTest, GeometricTruncatesFloatingPointNoise) {
  // 80 * 1.1 is 88.00000000000001 in binary floating point; it must give 88, not 96.
  std::string error;
  auto c = SlabClasses::Geometric(64, 1.1, 1000, error);
  ASSERT_TRUE(c.has_value()) << error;
  const std::vector<uint32_t> expected = {64,  72,  80,  88,  96,  112, 128, 144, 160,
                                          176, 200, 224, 248, 272, 304, 336, 376, 416,
                                          464, 512, 568, 624, 688, 760, 840, 928, 1000};
  EXPECT_EQ(Sizes(*c), expected);
}

TEST(SlabClassesTest, GeometricRoundsMinimumAndMaximum) {
  std::string error;
  // min 41 -> 48; max 1003 -> 1000; 48 * 3 = 144; 144 * 3 = 432; 432 * 3 = 1296 >= 1000.
  auto c = SlabClasses::Geometric(41, 3.0, 1003, error);
  ASSERT_TRUE(c.has_value()) << error;
  EXPECT_EQ(Sizes(*c), (std::vector<uint32_t>{48, 144, 432, 1000}));
  EXPECT_EQ(c->max_item(), 1000u);
}

TEST(SlabClassesTest, GeometricDropsClassEqualToOrNearLast) {
  std::string error;
  // 104 * 2 = 208 is above the last class: dropped, the last appears once.
  auto c = SlabClasses::Geometric(100, 2.0, 200, error);
  ASSERT_TRUE(c.has_value()) << error;
  EXPECT_EQ(Sizes(*c), (std::vector<uint32_t>{104, 200}));
  // 104 * 1.9 = 197.6 -> 200 equals the last: dropped, then 200 appended.
  c = SlabClasses::Geometric(104, 1.9, 207, error);
  ASSERT_TRUE(c.has_value()) << error;
  EXPECT_EQ(Sizes(*c), (std::vector<uint32_t>{104, 200}));
  // A computed class above the last is dropped as well.
  c = SlabClasses::Geometric(104, 1.95, 200, error);
  ASSERT_TRUE(c.has_value()) << error;
  EXPECT_EQ(Sizes(*c), (std::vector<uint32_t>{104, 200}));
}

TEST(SlabClassesTest, GeometricSmallFactorStepsByEight) {
  std::string error;
  auto c = SlabClasses::Geometric(8, 1.0001, 64, error);
  ASSERT_TRUE(c.has_value()) << error;
  EXPECT_EQ(Sizes(*c), (std::vector<uint32_t>{8, 16, 24, 32, 40, 48, 56, 64}));
}

TEST(SlabClassesTest, GeometricSingleClassWhenMinIsLargest) {
  std::string error;
  auto c = SlabClasses::Geometric(1048505, 1.25, 1048512, error);
  ASSERT_TRUE(c.has_value()) << error;
  EXPECT_EQ(Sizes(*c), (std::vector<uint32_t>{1048512}));
  c = SlabClasses::Geometric(1048512, 1.25, 1048519, error);
  ASSERT_TRUE(c.has_value()) << error;
  EXPECT_EQ(Sizes(*c), (std::vector<uint32_t>{1048512}));
}

TEST(SlabClassesTest, GeometricHugeFactor) {
  std::string error;
  auto c = SlabClasses::Geometric(48, 1e300, 1048512, error);
  ASSERT_TRUE(c.has_value()) << error;
  EXPECT_EQ(Sizes(*c), (std::vector<uint32_t>{48, 1048512}));
}

TEST(SlabClassesTest, GeometricMaxClassesBoundary) {
  std::string error;
  // +8 per step from 8: 200 classes up to 1600 is allowed, 201 up to 1608 is not.
  auto c = SlabClasses::Geometric(8, 1.0001, 1600, error);
  ASSERT_TRUE(c.has_value()) << error;
  EXPECT_EQ(c->count(), SlabClasses::kMaxClasses);
  EXPECT_EQ(c->chunk_size(199), 1600u);
  error.clear();
  EXPECT_FALSE(SlabClasses::Geometric(8, 1.0001, 1608, error).has_value());
  EXPECT_NE(error.find("-f/--factor"), std::string::npos) << error;
  EXPECT_NE(error.find("200"), std::string::npos) << error;
}

TEST(SlabClassesTest, GeometricErrors) {
  std::string error;
  EXPECT_FALSE(SlabClasses::Geometric(48, 1.0, 1048512, error).has_value());
  EXPECT_EQ(error.rfind("-f/--factor must be > 1.0", 0), 0u) << error;
  error.clear();
  EXPECT_FALSE(SlabClasses::Geometric(48, 0.5, 1048512, error).has_value());
  EXPECT_EQ(error.rfind("-f/--factor must be > 1.0", 0), 0u) << error;
  error.clear();
  EXPECT_FALSE(SlabClasses::Geometric(48, std::numeric_limits<double>::quiet_NaN(), 1048512, error)
                   .has_value());
  EXPECT_EQ(error.rfind("-f/--factor", 0), 0u) << error;
  error.clear();
  EXPECT_FALSE(SlabClasses::Geometric(0, 1.25, 1048512, error).has_value());
  EXPECT_EQ(error.rfind("-n/--min-item-size", 0), 0u) << error;
  error.clear();
  EXPECT_FALSE(SlabClasses::Geometric(1048513, 1.25, 1048512, error).has_value());
  EXPECT_EQ(error.rfind("-n/--min-item-size", 0), 0u) << error;
  error.clear();
  // Within max_chunk but rounds up past the largest chunk (1048512).
  EXPECT_FALSE(SlabClasses::Geometric(1048513, 1.25, 1048515, error).has_value());
  EXPECT_EQ(error.rfind("-n/--min-item-size", 0), 0u) << error;
  error.clear();
  EXPECT_FALSE(SlabClasses::Geometric(8, 1.25, 7, error).has_value());
  EXPECT_FALSE(error.empty());
}

TEST(SlabClassesTest, ClassForBoundaries) {
  std::string error;
  auto c = SlabClasses::Geometric(48, 1.25, 1048512, error);
  ASSERT_TRUE(c.has_value()) << error;
  EXPECT_EQ(c->ClassFor(0), 0);
  EXPECT_EQ(c->ClassFor(1), 0);
  EXPECT_EQ(c->ClassFor(48), 0);
  EXPECT_EQ(c->ClassFor(49), 1);
  EXPECT_EQ(c->ClassFor(64), 1);
  EXPECT_EQ(c->ClassFor(65), 2);
  EXPECT_EQ(c->ClassFor(896480), 43);
  EXPECT_EQ(c->ClassFor(896481), 44);
  EXPECT_EQ(c->ClassFor(1048512), 44);
  EXPECT_EQ(c->ClassFor(1048513), -1);
  EXPECT_EQ(c->ClassFor(UINT32_MAX), -1);
  // Exhaustive against a linear scan over the small range.
  for (uint32_t n = 0; n <= 20000; ++n) {
    int expected = -1;
    for (size_t i = 0; i < c->count(); ++i) {
      if (c->chunk_size(i) >= n) {
        expected = static_cast<int>(i);
        break;
      }
    }
    ASSERT_EQ(c->ClassFor(n), expected) << n;
  }
}

TEST(SlabClassesTest, ProfileRoundsAndAppendsLargest) {
  std::string error;
  auto c = SlabClasses::FromProfile({100, 200, 1000}, 4096, error);
  ASSERT_TRUE(c.has_value()) << error;
  EXPECT_EQ(Sizes(*c), (std::vector<uint32_t>{104, 200, 1000, 4096}));
  EXPECT_EQ(c->ClassFor(104), 0);
  EXPECT_EQ(c->ClassFor(105), 1);
  EXPECT_EQ(c->ClassFor(4096), 3);
  EXPECT_EQ(c->ClassFor(4097), -1);
}

TEST(SlabClassesTest, ProfileEndingAtLargestIsNotDuplicated) {
  std::string error;
  auto c = SlabClasses::FromProfile({64, 4090}, 4099, error);
  ASSERT_TRUE(c.has_value()) << error;
  EXPECT_EQ(Sizes(*c), (std::vector<uint32_t>{64, 4096}));
}

TEST(SlabClassesTest, ProfileErrors) {
  std::string error;
  EXPECT_FALSE(SlabClasses::FromProfile({}, 4096, error).has_value());
  EXPECT_EQ(error.rfind("-z/--slab-profile", 0), 0u) << error;
  error.clear();
  EXPECT_FALSE(SlabClasses::FromProfile({200, 100}, 4096, error).has_value());
  EXPECT_EQ(error.rfind("-z/--slab-profile", 0), 0u) << error;
  error.clear();
  EXPECT_FALSE(SlabClasses::FromProfile({100, 100}, 4096, error).has_value());
  EXPECT_EQ(error.rfind("-z/--slab-profile", 0), 0u) << error;
  error.clear();
  // Distinct but equal after rounding up to 8.
  EXPECT_FALSE(SlabClasses::FromProfile({97, 103}, 4096, error).has_value());
  EXPECT_EQ(error.rfind("-z/--slab-profile", 0), 0u) << error;
  error.clear();
  EXPECT_FALSE(SlabClasses::FromProfile({100, 4097}, 4096, error).has_value());
  EXPECT_EQ(error.rfind("-z/--slab-profile", 0), 0u) << error;
  error.clear();
  EXPECT_FALSE(SlabClasses::FromProfile({0, 100}, 4096, error).has_value());
  EXPECT_EQ(error.rfind("-z/--slab-profile", 0), 0u) << error;
  error.clear();
  std::vector<uint32_t> many;
  for (uint32_t s = 8; s <= 8 * 200; s += 8) many.push_back(s);
  auto c = SlabClasses::FromProfile(many, 1600, error);  // 200 classes, the last is the largest
  ASSERT_TRUE(c.has_value()) << error;
  EXPECT_EQ(c->count(), 200u);
  EXPECT_FALSE(SlabClasses::FromProfile(many, 1608, error).has_value());  // 201 with 1608
  EXPECT_EQ(error.rfind("-z/--slab-profile", 0), 0u) << error;
}

// Fitted to 4 KiB blocks, the classes up to the block are block / k (rounded down to 8): as many
// chunks per block as before, none smaller, and the block itself is a class.
TEST(SlabClassesTest, FitToBlocksGivesEachCountPerBlockItsLargestChunk) {
  std::string error;
  auto c = SlabClasses::Geometric(48, 1.25, 1048512, error);
  ASSERT_TRUE(c.has_value()) << error;
  const SlabClasses f = c->FitToBlocks(4096);
  EXPECT_LE(f.count(), c->count());
  EXPECT_NE(f.ClassFor(4096), -1);
  EXPECT_EQ(f.chunk_size(f.ClassFor(4096)), 4096u);
  EXPECT_EQ(f.chunk_size(f.ClassFor(4000)), 4096u);  // was 4,232 bytes: two blocks
  EXPECT_EQ(f.chunk_size(f.ClassFor(2049)), 4096u);
  EXPECT_EQ(f.chunk_size(f.ClassFor(2048)), 2048u);
  EXPECT_EQ(f.chunk_size(f.ClassFor(1300)), 1360u);  // three per block
  for (size_t i = 0; i < f.count(); ++i) {
    const uint32_t size = f.chunk_size(i);
    EXPECT_EQ(size % 8, 0u);
    if (i > 0) {
      EXPECT_GT(size, f.chunk_size(i - 1));
    }
    if (size <= 4096) {
      EXPECT_EQ(size, 4096 / (4096 / size) / 8 * 8) << size;
    }
  }
  EXPECT_EQ(f.max_item(), c->max_item());
  // Every item keeps a class; one that fits in a block gets a chunk that does too.
  for (uint32_t n = 1; n <= 70000; ++n) {
    ASSERT_NE(f.ClassFor(n), -1) << n;
    ASSERT_GE(f.chunk_size(f.ClassFor(n)), n);
    if (n <= 4096) {
      ASSERT_LE(f.chunk_size(f.ClassFor(n)), 4096u) << n;
    }
  }
}

// No chunk up to a block straddles a block boundary; chunks never overlap each other or the
// header and stay inside the slab; larger chunks follow each other from the header.
TEST(ChunkLayoutTest, ChunksUpToABlockStayInsideOneBlock) {
  constexpr uint32_t kSlabSize = 1 << 20, kBlock = 4096;
  for (uint32_t size : {56u, 64u, 96u, 1000u, 1360u, 2048u, 2056u, 4000u, 4096u, 4232u, 9000u}) {
    const ChunkLayout l(size, kSlabSize, kBlock);
    ASSERT_GT(l.count(), 0u) << size;
    uint64_t prev_end = kSlabHeaderSize;
    for (uint32_t c = 0; c < l.count(); ++c) {
      const uint64_t at = l.offset(c);
      ASSERT_GE(at, prev_end) << size << " chunk " << c;
      ASSERT_LE(at + size, kSlabSize) << size << " chunk " << c;
      if (size <= kBlock) {
        ASSERT_EQ(at / kBlock, (at + size - 1) / kBlock) << size << " " << c;
      }
      prev_end = at + size;
      ASSERT_EQ(l.end(c + 1), prev_end);
    }
    EXPECT_EQ(l.end(0), kSlabHeaderSize);
    if (size <= kBlock) {
      // Every block after the first holds block / size chunks: no room is lost but the tails.
      EXPECT_EQ(l.count(),
                (kBlock - kSlabHeaderSize) / size + (kSlabSize / kBlock - 1) * (kBlock / size));
    } else {
      EXPECT_EQ(l.count(), (kSlabSize - kSlabHeaderSize) / size);
      EXPECT_EQ(l.offset(1), kSlabHeaderSize + size);
    }
  }
}

// A partly filled slab's piece ends on the block after its last chunk; a full one is the slab.
TEST(ChunkLayoutTest, PieceBytesCoverTheUsedChunksInWholeBlocks) {
  constexpr uint32_t kSlab = 1 << 20, kBlock = 4096;
  const ChunkLayout small(1024, kSlab, kBlock);  // 3 chunks behind the header, then 4 per block
  EXPECT_EQ(small.piece_bytes(0), kBlock);       // the header alone
  EXPECT_EQ(small.piece_bytes(3), kBlock);
  EXPECT_EQ(small.piece_bytes(4), 2 * kBlock);
  EXPECT_EQ(small.piece_bytes(small.count() - 1), kSlab);
  EXPECT_EQ(small.piece_bytes(small.count()), kSlab);
  const ChunkLayout large(6000, kSlab, kBlock);  // larger than a block: packed from the header
  EXPECT_EQ(large.piece_bytes(1), 2 * kBlock);   // 64 + 6000 bytes
  EXPECT_EQ(large.piece_bytes(large.count()), kSlab);
  for (uint32_t used = 0; used <= large.count(); ++used) {
    EXPECT_GE(large.piece_bytes(used), large.end(used));
    EXPECT_EQ(large.piece_bytes(used) % kBlock, 0u);
  }
}

}  // namespace
}  // namespace ssdcache::storage
