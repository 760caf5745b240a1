#include "storage/access_table.h"

#include <sys/mman.h>

#include <cstdio>
#include <cstdlib>

namespace ssdcache::storage {

namespace {
constexpr size_t kBytes = AccessTable::kEntries * sizeof(uint64_t);
}

AccessTable::AccessTable() {
  // Anonymous memory reads as zeros (empty slots) and costs RSS only as pages are first written.
  void* mem = mmap(nullptr, kBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) {
    // As for the index: no exceptions, and this runs once at start-up.
    std::fprintf(stderr, "ssdcache: cannot allocate %zu bytes for the access table\n", kBytes);
    std::abort();
  }
  slots_ = static_cast<uint64_t*>(mem);
}

AccessTable::~AccessTable() { munmap(slots_, kBytes); }

void AccessTable::Load(std::span<const uint64_t> slots) {
  if (slots.size() != kEntries) return;
  // Empty slots are left untouched: they cost no RSS until written.
  for (size_t i = 0; i < kEntries; ++i) {
    if (slots[i] != 0) slots_[i] = slots[i];
  }
}

}  // namespace ssdcache::storage
