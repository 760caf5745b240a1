// Counts heap allocations, so that a test can check that a warm hot path allocates nothing.
// Replaces the global operator new and delete: include it from one source of a test executable
// only (every tests/unit/*_test.cc is its own executable).
#pragma once

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <new>

// GCC 12 at -O2 inlines the replaced operator new below and then takes its malloc for a
// mismatched partner of the free() in operator delete; they do match.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
namespace {
std::atomic<uint64_t> g_allocations{0};
}  // namespace

void* operator new(std::size_t size) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
