#include "storage/fault.h"

#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <vector>

namespace ssdcache::storage {
namespace {

constexpr uint32_t kMaxStallMs = 60000;

bool ParseProbability(std::string_view text, double& out) {
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, out);
  return ec == std::errc() && ptr == end && std::isfinite(out) && out >= 0 && out <= 1;
}

bool ParseUnsigned(std::string_view text, uint64_t& out) {
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, out);
  return ec == std::errc() && ptr == end && !text.empty();
}

// A short transfer as a device would report it: whole 512-byte sectors, fewer than asked.
int64_t ShortCount(size_t len) { return static_cast<int64_t>(len / 2 / 512 * 512); }

std::string Number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%g", v);
  return buf;
}

}  // namespace

std::optional<FaultSpec> FaultSpec::Parse(std::string_view text, std::string& error) {
  FaultSpec spec;
  std::vector<std::string_view> seen;
  while (!text.empty()) {
    size_t comma = text.find(',');
    std::string_view item = text.substr(0, comma);
    text = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
    if (comma != std::string_view::npos && text.empty()) {
      error = "trailing ',' in fault spec";
      return std::nullopt;
    }
    size_t eq = item.find('=');
    if (item.empty() || eq == std::string_view::npos || eq == 0) {
      error = "fault spec item '" + std::string(item) + "' is not key=value";
      return std::nullopt;
    }
    std::string_view key = item.substr(0, eq);
    std::string_view value = item.substr(eq + 1);
    for (std::string_view k : seen) {
      if (k == key) {
        error = "fault spec key '" + std::string(key) + "' given twice";
        return std::nullopt;
      }
    }
    seen.push_back(key);
    double* prob = key == "read_eio"      ? &spec.read_eio
                   : key == "read_short"  ? &spec.read_short
                   : key == "write_eio"   ? &spec.write_eio
                   : key == "write_short" ? &spec.write_short
                   : key == "write_torn"  ? &spec.write_torn
                   : key == "journal_eio" ? &spec.journal_eio
                   : key == "stall"       ? &spec.stall
                                          : nullptr;
    if (prob != nullptr) {
      if (!ParseProbability(value, *prob)) {
        error = "fault spec " + std::string(key) + "='" + std::string(value) +
                "': expected a probability between 0 and 1";
        return std::nullopt;
      }
      continue;
    }
    uint64_t n = 0;
    if (key == "stall_ms") {
      if (!ParseUnsigned(value, n) || n > kMaxStallMs) {
        error = "fault spec stall_ms='" + std::string(value) + "': expected milliseconds, 0 to " +
                std::to_string(kMaxStallMs);
        return std::nullopt;
      }
      spec.stall_ms = static_cast<uint32_t>(n);
    } else if (key == "seed" || key == "after") {
      if (!ParseUnsigned(value, n)) {
        error = "fault spec " + std::string(key) + "='" + std::string(value) +
                "': expected a non-negative integer";
        return std::nullopt;
      }
      (key == "seed" ? spec.seed : spec.after) = n;
    } else {
      error = "unknown fault spec key '" + std::string(key) +
              "' (known: read_eio, read_short, write_eio, write_short, write_torn, journal_eio, "
              "stall, stall_ms, seed, after)";
      return std::nullopt;
    }
  }
  // Failing and short are outcomes of one draw per op, so they cannot add up to more than 1.
  if (spec.read_eio + spec.read_short > 1 ||
      spec.write_eio + spec.write_short + spec.write_torn > 1) {
    error =
        "fault spec: read_eio + read_short and write_eio + write_short + write_torn must each be "
        "<= 1";
    return std::nullopt;
  }
  if (spec.stall > 0 && spec.stall_ms == 0) {
    error = "fault spec: stall needs stall_ms > 0";
    return std::nullopt;
  }
  return spec;
}

bool FaultSpec::active() const {
  return read_eio > 0 || read_short > 0 || write_eio > 0 || write_short > 0 || write_torn > 0 ||
         journal_eio > 0 || stall > 0;
}

std::string FaultSpec::ToString() const {
  return "read_eio=" + Number(read_eio) + ",read_short=" + Number(read_short) +
         ",write_eio=" + Number(write_eio) + ",write_short=" + Number(write_short) +
         ",write_torn=" + Number(write_torn) + ",journal_eio=" + Number(journal_eio) +
         ",stall=" + Number(stall) + ",stall_ms=" + std::to_string(stall_ms) +
         ",seed=" + std::to_string(seed) + ",after=" + std::to_string(after);
}

FaultInjector::FaultInjector(const FaultSpec& spec) : spec_(spec), rng_(spec.seed) {}

std::unique_ptr<FaultInjector> FaultInjector::Create(std::string_view spec, std::string& error) {
  std::optional<FaultSpec> parsed = FaultSpec::Parse(spec, error);
  if (!parsed) return nullptr;
  return std::make_unique<FaultInjector>(*parsed);
}

FaultInjector::~FaultInjector() {
  if (!waker_.joinable()) return;
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_one();
  waker_.join();
}

void FaultInjector::Attach(int wake_fd) { wake_fd_ = wake_fd; }

double FaultInjector::Uniform() {
  // 53 random bits: the same doubles from the same seed with any standard library.
  return static_cast<double>(rng_() >> 11) * 0x1.0p-53;
}

FaultInjector::Decision FaultInjector::Decide(bool write, size_t len, int64_t result,
                                              bool journal) {
  ++stats_.ops;
  if (stats_.ops <= spec_.after) return {result, false, false};
  // Both draws happen for every op, so one outcome's probability does not shift the others.
  double r = Uniform();
  double s = Uniform();
  double eio = journal ? spec_.journal_eio : write ? spec_.write_eio : spec_.read_eio;
  double shrt = journal ? 0 : write ? spec_.write_short : spec_.read_short;
  double torn = write && !journal ? spec_.write_torn : 0;
  Decision d{result, s < spec_.stall, false};
  if (result >= 0 && r < eio) {
    d.result = -EIO;
    ++stats_.eio;
  } else if (result >= 0 && r < eio + shrt && len > 0) {
    d.result = std::min(result, ShortCount(len));
    ++stats_.short_ops;
  } else if (result >= 0 && r < eio + shrt + torn) {
    d.result = -EIO;
    d.torn = true;
    ++stats_.torn;
  }
  return d;
}

void FaultInjector::Hold(IoOp& op, int64_t result) {
  auto due = Clock::now() + std::chrono::milliseconds(spec_.stall_ms);
  held_.push_back({&op, result, due});
  ++stats_.stalled;
  Arm(held_.front().due);
}

bool FaultInjector::TakeHeld(bool all, IoOp*& op, int64_t& result) {
  if (held_.empty() || (!all && held_.front().due > Clock::now())) return false;
  op = held_.front().op;
  result = held_.front().result;
  held_.pop_front();
  ++stats_.delivered;
  return true;
}

void FaultInjector::Rearm() {
  if (!held_.empty()) Arm(held_.front().due);
}

void FaultInjector::Arm(Clock::time_point due) {
  if (wake_fd_ < 0) return;
  // Started at the first stall, not at Attach: the server may daemonize (fork) after creating
  // the backend, and a thread does not survive the fork.
  if (!waker_.joinable()) waker_ = std::thread([this] { WakerMain(); });
  {
    std::lock_guard lock(mu_);
    if (deadline_ && *deadline_ <= due) return;
    deadline_ = due;
  }
  cv_.notify_one();
}

void FaultInjector::WakerMain() {
  std::unique_lock lock(mu_);
  while (!stop_) {
    if (!deadline_) {
      cv_.wait(lock);
      continue;
    }
    if (Clock::now() < *deadline_) {
      cv_.wait_until(lock, *deadline_);
      continue;  // re-check: stopped, re-armed earlier, or woken spuriously
    }
    deadline_.reset();
    // The loop then calls Reap(), which delivers what is due and re-arms for the rest.
    uint64_t one = 1;
    ssize_t ignored = ::write(wake_fd_, &one, sizeof(one));
    (void)ignored;  // EAGAIN only if the counter is saturated, in which case it is readable anyway
  }
}

}  // namespace ssdcache::storage
