#include "key_dist.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>

namespace ssdcache::bench {

namespace {

// log1p(x) / x and expm1(x) / x with their limits at 0, so H and its inverse stay accurate when
// alpha is close to 1 (where the closed forms divide by 1 - alpha).
double Log1pOverX(double x) { return std::abs(x) > 1e-8 ? std::log1p(x) / x : 1.0 - x / 2.0; }
double Expm1OverX(double x) { return std::abs(x) > 1e-8 ? std::expm1(x) / x : 1.0 + x / 2.0; }

// Rejection is rare (the acceptance rate is above 0.9 for all alpha), so this cap only guards the
// invariant that every loop is bounded; it is never reached in practice.
constexpr int kMaxRejections = 1000;

}  // namespace

std::string KeyDistSpec::ToString() const {
  return kind == Kind::kUniform ? std::string("uniform") : fmt::format("zipf:{}", alpha);
}

bool ParseKeyDist(std::string_view text, KeyDistSpec* out, std::string* error) {
  if (text == "uniform") {
    *out = KeyDistSpec{};
    return true;
  }
  constexpr std::string_view kZipf = "zipf:";
  if (!text.starts_with(kZipf)) {
    *error = fmt::format("expected uniform or zipf:A, got '{}'", text);
    return false;
  }
  const std::string_view num = text.substr(kZipf.size());
  double alpha = 0;
  auto [ptr, ec] = std::from_chars(num.data(), num.data() + num.size(), alpha);
  if (num.empty() || ec != std::errc() || ptr != num.data() + num.size() || !std::isfinite(alpha) ||
      alpha <= 0 || alpha > 10) {
    *error = fmt::format("zipf exponent must be a number in (0, 10], got '{}'", num);
    return false;
  }
  out->kind = KeyDistSpec::Kind::kZipf;
  out->alpha = alpha;
  return true;
}

ZipfSampler::ZipfSampler(uint64_t n, double alpha) : n_(std::max<uint64_t>(n, 1)), alpha_(alpha) {
  h_integral_x1_ = H(1.5) - 1.0;
  h_integral_n_ = H(static_cast<double>(n_) + 0.5);
  s_ = 2.0 - HInv(H(2.5) - h(2.0));
}

double ZipfSampler::h(double x) const { return std::exp(-alpha_ * std::log(x)); }

double ZipfSampler::H(double x) const {
  const double log_x = std::log(x);
  return Expm1OverX((1.0 - alpha_) * log_x) * log_x;
}

double ZipfSampler::HInv(double x) const {
  // (1 - alpha) * x can dip below -1 by rounding at the far end of the range; clamp to the pole.
  double t = x * (1.0 - alpha_);
  if (t < -1.0) t = -1.0;
  return std::exp(Log1pOverX(t) * x);
}

uint64_t ZipfSampler::Sample(Rng& rng) const {
  uint64_t k = 1;
  for (int attempt = 0; attempt < kMaxRejections; ++attempt) {
    // u runs over (H(n + 1/2), H(3/2) - h(1)]: the hat function's integral, right to left.
    const double u = h_integral_n_ + rng.NextDouble() * (h_integral_x1_ - h_integral_n_);
    const double x = HInv(u);
    double rounded = std::floor(x + 0.5);
    rounded = std::clamp(rounded, 1.0, static_cast<double>(n_));
    k = static_cast<uint64_t>(rounded);
    // Accept at once in the region where the hat provably lies under the histogram of P, else
    // compare against the exact bar of rank k.
    if (rounded - x <= s_ || u >= H(rounded + 0.5) - h(rounded)) return k;
  }
  return k;
}

KeyChooser::KeyChooser(uint64_t key_space, const KeyDistSpec& spec)
    : key_space_(std::max<uint64_t>(key_space, 1)),
      zipf_(spec.kind == KeyDistSpec::Kind::kZipf),
      zipf_sampler_(key_space_, zipf_ ? spec.alpha : 1.0) {}

}  // namespace ssdcache::bench
