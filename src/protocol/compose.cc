#include "protocol/compose.h"

#include <charconv>
#include <type_traits>

namespace ssdcache::protocol {

namespace {

// " k<key>", or " k<base64> b" when the key was sent in base64 (memcached re-encodes the bytes).
void AppendKeyFlag(std::string& out, const MetaRequest& m, std::string_view key) {
  out.append(" k");
  if (m.base64) {
    AppendBase64(out, key);
    out.append(" b");
  } else {
    out.append(key);
  }
}

// One flag of a meta reply, in the request's order; false when the reply does not report it.
void AppendMetaFlag(std::string& out, char letter, const MetaReply& r) {
  const MetaRequest& m = *r.request;
  if (letter == 'O') {
    out.push_back(' ');
    out.append(m.opaque);
    return;
  }
  if (letter == 'k') {
    AppendKeyFlag(out, m, r.key);
    return;
  }
  if (((r.returns >> MetaRequest::Bit(letter)) & 1) == 0) return;
  switch (letter) {
    case 's':
      out.append(" s");
      AppendUint(out, r.value.size());
      break;
    case 't':
      out.append(" t");
      AppendInt(out, r.ttl);
      break;
    case 'c':
      out.append(" c");
      AppendUint(out, r.cas);
      break;
    case 'f':
      out.append(" f");
      AppendUint(out, r.client_flags);
      break;
    case 'l':
      out.append(" l");
      AppendUint(out, r.last_access_age);
      break;
    case 'h':
      out.append(r.fetched ? " h1" : " h0");
      break;
    default:
      break;
  }
}

void ComposeMeta(const MetaReply& r, std::string& out) {
  if (r.send_value) {
    out.append("VA ");
    AppendUint(out, r.value.size());
  } else {
    out.append(r.code);
  }
  const MetaRequest& m = *r.request;
  for (uint8_t i = 0; i < m.count; ++i) AppendMetaFlag(out, m.order[i], r);
  // As memcached orders them: Z (someone else won) before X (stale), and never W with Z.
  if (r.token_sent) out.append(" Z");
  if (r.stale) out.append(" X");
  if (r.won) out.append(" W");
  out.append("\r\n");
  if (r.send_value) {
    out.append(r.value);
    out.append("\r\n");
  }
}

void ComposeValue(const ValueReply& r, std::string& out) {
  out.append("VALUE ");
  out.append(r.key);
  out.push_back(' ');
  AppendUint(out, r.flags);
  out.push_back(' ');
  AppendUint(out, r.value.size());
  if (r.with_cas) {
    out.push_back(' ');
    AppendUint(out, r.cas);
  }
  out.append("\r\n");
  out.append(r.value);
  out.append("\r\n");
}

void ComposeMetaDebug(const MetaDebugReply& r, std::string& out) {
  out.append("ME ");
  if (r.base64) {
    AppendBase64(out, r.key);
  } else {
    out.append(r.key);
  }
  out.append(" exp=");
  AppendInt(out, r.exp);
  out.append(" la=");
  AppendUint(out, r.last_access_age);
  out.append(" cas=");
  AppendUint(out, r.cas);
  out.append(r.fetched ? " fetch=yes cls=" : " fetch=no cls=");
  AppendUint(out, r.slab_class);
  out.append(" size=");
  AppendUint(out, r.size);
  out.append("\r\n");
}

}  // namespace

void AppendUint(std::string& out, uint64_t v) {
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof(buf), v);
  out.append(buf, r.ptr);
}

void AppendInt(std::string& out, int64_t v) {
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof(buf), v);
  out.append(buf, r.ptr);
}

void AppendBase64(std::string& out, std::string_view in) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  size_t i = 0;
  for (; i + 3 <= in.size(); i += 3) {
    const uint32_t g = static_cast<uint32_t>(static_cast<unsigned char>(in[i])) << 16 |
                       static_cast<uint32_t>(static_cast<unsigned char>(in[i + 1])) << 8 |
                       static_cast<unsigned char>(in[i + 2]);
    const char quad[4] = {kAlphabet[g >> 18], kAlphabet[(g >> 12) & 63], kAlphabet[(g >> 6) & 63],
                          kAlphabet[g & 63]};
    out.append(quad, 4);
  }
  if (i < in.size()) {
    const bool two = in.size() - i == 2;
    const uint32_t g =
        static_cast<uint32_t>(static_cast<unsigned char>(in[i])) << 16 |
        (two ? static_cast<uint32_t>(static_cast<unsigned char>(in[i + 1])) << 8 : 0);
    const char quad[4] = {kAlphabet[g >> 18], kAlphabet[(g >> 12) & 63],
                          two ? kAlphabet[(g >> 6) & 63] : '=', '='};
    out.append(quad, 4);
  }
}

void Compose(const Response& reply, std::string& out) {
  std::visit(
      [&out](const auto& r) {
        using T = std::decay_t<decltype(r)>;
        if constexpr (std::is_same_v<T, LineReply>) {
          out.append(r.text);
        } else if constexpr (std::is_same_v<T, ValueReply>) {
          ComposeValue(r, out);
        } else if constexpr (std::is_same_v<T, NumberReply>) {
          out.append(r.digits);
          out.append("\r\n");
        } else if constexpr (std::is_same_v<T, MetaReply>) {
          ComposeMeta(r, out);
        } else {
          ComposeMetaDebug(r, out);
        }
      },
      reply);
}

}  // namespace ssdcache::protocol
