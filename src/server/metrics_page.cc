#include "server/metrics_page.h"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <unordered_set>
#include <utility>
#include <vector>

#include "server/stats.h"

namespace ssdcache::server {
namespace {

// Histogram buckets: powers of two of nanoseconds from 2^10 (~1 us) to 2^35 (~34 s). A value is
// counted below its bound (the histogram's edges fall on powers of two, so the counts are exact).
constexpr int kFirstBucketLog2 = 10;
constexpr int kLastBucketLog2 = 35;

// Calls fn(name, value) for every "STAT name value" line of a `stats` reply.
template <typename Fn>
void ForEachStat(std::string_view text, Fn&& fn) {
  while (!text.empty()) {
    const size_t eol = text.find('\n');
    std::string_view line = text.substr(0, eol);
    text.remove_prefix(eol == std::string_view::npos ? text.size() : eol + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (!line.starts_with("STAT ")) continue;
    line.remove_prefix(5);
    const size_t space = line.find(' ');
    if (space == std::string_view::npos) continue;
    fn(line.substr(0, space), line.substr(space + 1));
  }
}

bool IsNumber(std::string_view v) {
  double d = 0;
  const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), d);
  return !v.empty() && ec == std::errc() && end == v.data() + v.size();
}

// Metric and label names allow [a-zA-Z0-9_:]; stat names are already so, this keeps it true.
std::string Sanitize(std::string_view name) {
  std::string s(name);
  for (char& c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (!ok) c = '_';
  }
  return s;
}

void AppendLabelValue(std::string& out, std::string_view v) {
  for (char c : v) {
    if (c == '\\' || c == '"') out.push_back('\\');
    if (c == '\n') {
      out.append("\\n");
      continue;
    }
    out.push_back(c);
  }
}

std::string Seconds(uint64_t ns) {
  char buf[32];
  snprintf(buf, sizeof(buf), "%.9g", static_cast<double>(ns) / 1e9);
  return buf;
}

class Page {
 public:
  explicit Page(std::string& out) : out_(out) {}

  // Opens a family; false if one of that name was already written (its samples would be split).
  bool Family(const std::string& name, std::string_view type, std::string_view help) {
    if (!seen_.insert(name).second) return false;
    out_.append("# HELP ").append(name).append(" ").append(help).append("\n");
    out_.append("# TYPE ").append(name).append(" ").append(type).append("\n");
    return true;
  }
  // One sample: name{labels} value; `labels` already composed (without braces), or empty.
  void Sample(std::string_view name, std::string_view labels, std::string_view value) {
    out_.append(name);
    if (!labels.empty()) out_.append("{").append(labels).append("}");
    out_.append(" ").append(value).append("\n");
  }
  // A number as a counter (`_total`) or a gauge, or else an info gauge labelled with the text.
  void Stat(std::string_view prefix, std::string_view name, std::string_view value, bool total) {
    const std::string base = std::string(prefix) + Sanitize(name);
    if (!IsNumber(value)) {
      if (!Family(base + "_info", "gauge", "stats " + std::string(name) + " (text)")) return;
      std::string label = Sanitize(name) + "=\"";
      AppendLabelValue(label, value);
      Sample(base + "_info", label + "\"", "1");
      return;
    }
    const std::string metric = total ? base + "_total" : base;
    if (Family(metric, total ? "counter" : "gauge", "stats " + std::string(name))) {
      Sample(metric, "", value);
    }
  }

 private:
  std::string& out_;
  std::unordered_set<std::string> seen_;
};

// `stats slabs` / `stats items`: "N:field value" lines (after `strip`) become one family per field
// with a `slab` label; lines without a class ("active_slabs") are plain gauges.
void ClassGroup(Page& page, std::string_view text, std::string_view strip,
                std::string_view prefix) {
  std::vector<
      std::pair<std::string_view, std::vector<std::pair<std::string_view, std::string_view>>>>
      fields;  // field -> (class, value), in first-seen order
  ForEachStat(text, [&](std::string_view name, std::string_view value) {
    if (name.starts_with(strip)) name.remove_prefix(strip.size());
    const size_t colon = name.find(':');
    if (colon == std::string_view::npos) {
      page.Stat("ssdcached_", name, value, false);
      return;
    }
    const std::string_view field = name.substr(colon + 1);
    auto it =
        std::find_if(fields.begin(), fields.end(), [&](const auto& f) { return f.first == field; });
    if (it == fields.end()) {
      fields.emplace_back();
      fields.back().first = field;
      it = fields.end() - 1;
    }
    it->second.emplace_back(name.substr(0, colon), value);
  });
  for (const auto& [field, rows] : fields) {
    const bool total = ClassStatIsTotal(field);
    const std::string metric = std::string(prefix) + Sanitize(field) + (total ? "_total" : "");
    const std::string help = "stats " + std::string(strip.empty() ? "slabs " : "items ") +
                             std::string(field) + ", per slab class";
    if (!page.Family(metric, total ? "counter" : "gauge", help)) continue;
    for (const auto& [cls, value] : rows) {
      if (IsNumber(value)) page.Sample(metric, "slab=\"" + Sanitize(cls) + "\"", value);
    }
  }
}

// `stats settings`: numbers as gauges, everything else as labels of one info series.
void Settings(Page& page, std::string_view text) {
  std::string labels;
  ForEachStat(text, [&](std::string_view name, std::string_view value) {
    if (IsNumber(value)) {
      page.Stat("ssdcached_setting_", name, value, false);
      return;
    }
    labels.append(labels.empty() ? "" : ",").append(Sanitize(name)).append("=\"");
    AppendLabelValue(labels, value);
    labels.append("\"");
  });
  if (page.Family("ssdcached_settings_info", "gauge", "stats settings that are not numbers")) {
    page.Sample("ssdcached_settings_info", labels, "1");
  }
}

void Histograms(Page& page, std::span<const NamedHistogram> series) {
  for (const NamedHistogram& s : series) {
    const std::string family(s.family);
    page.Family(family, "histogram", "latency in seconds (stats latency)");
    const std::string label = std::string(s.label_name) + "=\"" + std::string(s.label) + "\"";
    const util::Histogram& h = *s.histogram;
    for (int k = kFirstBucketLog2; k <= kLastBucketLog2; ++k) {
      const uint64_t bound = uint64_t{1} << k;
      page.Sample(family + "_bucket", label + ",le=\"" + Seconds(bound) + "\"",
                  std::to_string(h.CountBelow(bound)));
    }
    page.Sample(family + "_bucket", label + ",le=\"+Inf\"", std::to_string(h.count()));
    page.Sample(family + "_sum", label, Seconds(h.sum()));
    page.Sample(family + "_count", label, std::to_string(h.count()));
  }
}

}  // namespace

void ComposeMetricsPage(const MetricsInput& input, std::string& out) {
  Page page(out);
  ForEachStat(input.general, [&](std::string_view name, std::string_view value) {
    page.Stat("ssdcached_", name, value, StatIsTotal(name));
  });
  ClassGroup(page, input.slabs, "", "ssdcached_slab_");
  ClassGroup(page, input.items, "items:", "ssdcached_items_");
  Histograms(page, input.histograms);
  Settings(page, input.settings);
}

}  // namespace ssdcache::server
