#include "reply_parser.h"

#include <algorithm>
#include <charconv>
#include <cstring>

#include "util/hash.h"

namespace ssdcache::bench {

namespace {

template <typename T>
bool ParseNumber(std::string_view text, T* out) {
  if (text.empty()) return false;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
  return ec == std::errc() && ptr == text.data() + text.size();
}

// Splits off the next space-separated token; memcached separates with exactly one space.
std::string_view NextToken(std::string_view* rest) {
  const size_t space = rest->find(' ');
  std::string_view token = rest->substr(0, space);
  rest->remove_prefix(space == std::string_view::npos ? rest->size() : space + 1);
  return token;
}

// "NAME" alone or "NAME <text>": the text, or nullopt-like false when the line is another word.
bool MatchWord(std::string_view line, std::string_view word, std::string_view* rest) {
  if (!line.starts_with(word)) return false;
  if (line.size() == word.size()) {
    *rest = {};
    return true;
  }
  if (line[word.size()] != ' ') return false;
  *rest = line.substr(word.size() + 1);
  return true;
}

}  // namespace

std::string_view ReplyKindName(ReplyKind kind) {
  switch (kind) {
    case ReplyKind::kNone:
      return "none";
    case ReplyKind::kHit:
      return "VALUE";
    case ReplyKind::kMiss:
      return "END";
    case ReplyKind::kStored:
      return "STORED";
    case ReplyKind::kNotStored:
      return "NOT_STORED";
    case ReplyKind::kExists:
      return "EXISTS";
    case ReplyKind::kNotFound:
      return "NOT_FOUND";
    case ReplyKind::kError:
      return "ERROR";
    case ReplyKind::kClientError:
      return "CLIENT_ERROR";
    case ReplyKind::kServerError:
      return "SERVER_ERROR";
    case ReplyKind::kProtocolError:
      return "protocol error";
  }
  return "unknown";
}

void ReplyParser::Reset() {
  state_ = State::kLine;
  line_len_ = 0;
  key_len_ = 0;
  length_ = 0;
  received_ = 0;
  crc_ = 0;
  crlf_seen_ = 0;
  message_len_ = 0;
}

bool ReplyParser::Fail(std::string_view why, Reply* out) {
  state_ = State::kBroken;
  message_len_ = std::min(why.size(), sizeof(message_));
  std::memcpy(message_, why.data(), message_len_);
  *out = Reply{};
  out->kind = ReplyKind::kProtocolError;
  out->message = std::string_view(message_, message_len_);
  return true;
}

size_t ReplyParser::Feed(const char* data, size_t len, Reply* out) {
  *out = Reply{};
  size_t pos = 0;
  // Every pass consumes at least one byte or returns.
  while (pos < len) {
    switch (state_) {
      case State::kBroken:
        Fail(std::string_view(message_, message_len_), out);
        return len;
      case State::kLine:
      case State::kEndLine: {
        const char* start = data + pos;
        const auto* newline = static_cast<const char*>(std::memchr(start, '\n', len - pos));
        const size_t take = newline ? static_cast<size_t>(newline - start) + 1 : len - pos;
        if (line_len_ + take > kMaxLine) {
          Fail("reply line too long", out);
          return pos + take;
        }
        std::string_view line;
        if (newline && line_len_ == 0) {
          line = std::string_view(start, take);  // the common case: the whole line is here
        } else {
          std::memcpy(line_ + line_len_, start, take);
          line_len_ += take;
          if (!newline) return len;
          line = std::string_view(line_, line_len_);
        }
        pos += take;
        line_len_ = 0;
        if (line.size() < 2 || line[line.size() - 2] != '\r') {
          Fail("reply line not ended by CRLF", out);
          return pos;
        }
        line.remove_suffix(2);
        if (OnLine(line, out)) return pos;
        break;
      }
      case State::kData: {
        const size_t n = static_cast<size_t>(std::min<uint64_t>(len - pos, length_ - received_));
        TakeData(data + pos, n);
        pos += n;
        if (received_ == length_) {
          state_ = State::kDataEnd;
          crlf_seen_ = 0;
        }
        break;
      }
      case State::kDataEnd: {
        const char expected = crlf_seen_ == 0 ? '\r' : '\n';
        if (data[pos] != expected) {
          Fail("value not followed by CRLF (length mismatch)", out);
          return pos + 1;
        }
        ++pos;
        if (++crlf_seen_ == 2) state_ = State::kEndLine;
        break;
      }
    }
  }
  return pos;
}

bool ReplyParser::OnLine(std::string_view line, Reply* out) {
  if (state_ == State::kEndLine) {
    if (line == "END") {
      state_ = State::kLine;
      out->kind = ReplyKind::kHit;
      out->key = std::string_view(key_, key_len_);
      out->flags = flags_;
      out->length = length_;
      out->head = head_;
      out->head_len = static_cast<size_t>(std::min<uint64_t>(length_, kValueHeaderSize));
      out->tail_crc = crc_;
      return true;
    }
    if (line.starts_with("VALUE ")) return Fail("more than one VALUE in a single-key get", out);
    return Fail("expected END after a value", out);
  }

  std::string_view rest;
  if (line == "END") {
    out->kind = ReplyKind::kMiss;
  } else if (line == "STORED") {
    out->kind = ReplyKind::kStored;
  } else if (line == "NOT_STORED") {
    out->kind = ReplyKind::kNotStored;
  } else if (line == "EXISTS") {
    out->kind = ReplyKind::kExists;
  } else if (line == "NOT_FOUND") {
    out->kind = ReplyKind::kNotFound;
  } else if (MatchWord(line, "ERROR", &rest)) {
    out->kind = ReplyKind::kError;
  } else if (MatchWord(line, "CLIENT_ERROR", &rest)) {
    out->kind = ReplyKind::kClientError;
  } else if (MatchWord(line, "SERVER_ERROR", &rest)) {
    out->kind = ReplyKind::kServerError;
  } else if (line.starts_with("VALUE ")) {
    if (!ParseValueLine(line.substr(6))) return Fail("malformed VALUE line", out);
    state_ = length_ == 0 ? State::kDataEnd : State::kData;
    crlf_seen_ = 0;
    return false;
  } else {
    return Fail("unknown reply line", out);
  }
  if (!rest.empty()) {
    message_len_ = std::min(rest.size(), sizeof(message_));
    std::memcpy(message_, rest.data(), message_len_);
    out->message = std::string_view(message_, message_len_);
  }
  return true;
}

bool ReplyParser::ParseValueLine(std::string_view rest) {
  const std::string_view key = NextToken(&rest);
  const std::string_view flags = NextToken(&rest);
  const std::string_view length = NextToken(&rest);
  const std::string_view cas = NextToken(&rest);
  uint64_t cas_value = 0;
  if (key.empty() || key.size() > kMaxKey || !rest.empty()) return false;
  if (!ParseNumber(flags, &flags_) || !ParseNumber(length, &length_)) return false;
  if (length_ > kMaxValueLength) return false;
  if (!cas.empty() && !ParseNumber(cas, &cas_value)) return false;
  std::memcpy(key_, key.data(), key.size());
  key_len_ = key.size();
  received_ = 0;
  crc_ = 0;
  return true;
}

void ReplyParser::TakeData(const char* data, size_t n) {
  const uint64_t offset = received_;
  if (offset < kValueHeaderSize) {
    std::memcpy(head_ + offset, data, std::min<size_t>(n, kValueHeaderSize - offset));
  }
  if (checksum_ && offset + n > kValueCrcStart) {
    const size_t skip = offset < kValueCrcStart ? kValueCrcStart - offset : 0;
    crc_ = util::Crc32c(data + skip, n - skip, crc_);
  }
  received_ += n;
}

}  // namespace ssdcache::bench
