// The meta commands of memcached 1.6 (mg ms md ma mn me), parsed as memcached 1.6.18 parses them
// (proto_text.c: process_m*_command and _meta_flag_preparse), with every error reply byte for byte.
// Parser::Parse calls ParseMeta with a complete line; the only state is in `req`.
//
// Checks, in memcached's order:
//   fewer than two tokens               -> ERROR
//   key token longer than max_key       -> CLIENT_ERROR bad command line format
//   (ms) no datalen token               -> CLIENT_ERROR bad command line format
//   more than 17 flags (19 tokens)      -> CLIENT_ERROR options flags [are] too long
//   (ms) datalen not an int in range    -> CLIENT_ERROR bad command line format
//   flags (letter, duplicate, tokens)   -> mg/ms: the flag's own error; md/ma: one generic error
//   opaque longer than 32 bytes, mode   -> their own errors
// An ms error found after its datalen was read swallows the data block, as memcached does; errors
// before that leave the block to be read as commands. Errors are sent even in quiet mode.
#include <limits>
#include <optional>

#include "protocol/numbers.h"
#include "protocol/parser.h"

namespace ssdcache::protocol {
namespace {

constexpr std::string_view kReplyError = "ERROR\r\n";
constexpr std::string_view kReplyBadFormat = "CLIENT_ERROR bad command line format\r\n";
constexpr std::string_view kReplyBadChunk = "CLIENT_ERROR bad data chunk\r\n";
constexpr std::string_view kReplyTooManyFlagsGet = "CLIENT_ERROR options flags are too long\r\n";
constexpr std::string_view kReplyTooManyFlags = "CLIENT_ERROR options flags too long\r\n";
constexpr std::string_view kReplyDuplicateFlag = "CLIENT_ERROR duplicate flag\r\n";
constexpr std::string_view kReplyInvalidFlag = "CLIENT_ERROR invalid flag\r\n";
constexpr std::string_view kReplyInvalidOrDuplicate = "CLIENT_ERROR invalid or duplicate flag\r\n";
constexpr std::string_view kReplyBadToken = "CLIENT_ERROR bad token in command line format\r\n";
constexpr std::string_view kReplyBadKeyEncoding = "CLIENT_ERROR error decoding key\r\n";
constexpr std::string_view kReplyModeLength = "CLIENT_ERROR incorrect length for M token\r\n";
constexpr std::string_view kReplyBadInitial = "CLIENT_ERROR invalid numeric initial value\r\n";
constexpr std::string_view kReplyBadDelta = "CLIENT_ERROR invalid numeric delta value\r\n";
constexpr std::string_view kReplyOpaqueTooLong = "CLIENT_ERROR opaque token too long\r\n";
constexpr std::string_view kReplyBadSetMode = "CLIENT_ERROR invalid mode for ms M token\r\n";
constexpr std::string_view kReplyBadArithMode = "CLIENT_ERROR invalid mode for ma M token\r\n";

// memcached counts the terminal token too and refuses more than 20: 19 real tokens at most.
constexpr size_t kMaxTokens = 2 + MetaRequest::kMaxFlags;
constexpr size_t kMaxOpaque = 32;  // the O token, 'O' included
// ms: memcached keeps datalen + 2 in an int.
constexpr int64_t kMaxDataLength = std::numeric_limits<int32_t>::max() - 2;

ParseOutcome Ok(size_t consumed) {
  ParseOutcome out;
  out.status = ParseStatus::kOk;
  out.consumed = consumed;
  return out;
}

ParseOutcome Fail(size_t consumed, std::string_view reply, uint64_t swallow = 0) {
  ParseOutcome out;
  out.status = ParseStatus::kError;
  out.consumed = consumed;
  out.reply = reply;
  out.swallow = swallow;
  return out;
}

// Splits on ' ' as memcached does (tabs belong to tokens). Tokens past kMaxTokens are only counted.
struct MetaTokens {
  std::string_view tok[kMaxTokens];
  size_t count = 0;
};

MetaTokens Tokenize(std::string_view text) {
  MetaTokens t;
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && text[i] == ' ') ++i;
    if (i == text.size()) break;
    const size_t begin = i;
    while (i < text.size() && text[i] != ' ') ++i;
    if (t.count < kMaxTokens) t.tok[t.count] = text.substr(begin, i - begin);
    ++t.count;
  }
  return t;
}

// The same rule as the classic commands: printable keys only (memcached only checks the length).
bool ValidKey(std::string_view key, size_t max_key) {
  if (key.empty() || key.size() > max_key) return false;
  for (char ch : key) {
    const auto c = static_cast<unsigned char>(ch);
    if (c <= 0x20 || c == 0x7f) return false;
  }
  return true;
}

// --- Base64 keys ---------------------------------------------------------------------------------
// memcached's decoder (base64.c) is lenient in its own way and clients may rely on it: bytes
// outside the alphabet are skipped, the remaining symbols ('=' included, read as zero) must be a
// non-zero multiple of four, and decoding stops after the first group holding padding (one '='
// drops one byte, two drop two, more is an error). A decoded key of zero bytes is an error.

int Base64Value(unsigned char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  if (c == '=') return 0;
  return -1;
}

bool DecodeBase64(std::string_view in, std::string& out) {
  out.clear();
  size_t symbols = 0;
  for (char c : in) symbols += Base64Value(static_cast<unsigned char>(c)) >= 0 ? 1 : 0;
  if (symbols == 0 || symbols % 4 != 0) return false;
  uint32_t group = 0;
  int in_group = 0;
  int pad = 0;
  for (char ch : in) {
    const auto c = static_cast<unsigned char>(ch);
    const int v = Base64Value(c);
    if (v < 0) continue;
    if (c == '=') ++pad;
    group = (group << 6) | static_cast<uint32_t>(v);
    if (++in_group < 4) continue;
    const char bytes[3] = {static_cast<char>(group >> 16), static_cast<char>(group >> 8),
                           static_cast<char>(group)};
    if (pad > 2) return false;
    out.append(bytes, static_cast<size_t>(3 - pad));
    if (pad > 0) break;
    group = 0;
    in_group = 0;
  }
  return !out.empty();
}

// --- Flags ---------------------------------------------------------------------------------------

struct FlagResult {
  bool ok = true;
  std::string_view error;  // reply when !ok
};

// memcached's _meta_flag_preparse: every meta command accepts the same letters (those that do not
// apply are ignored). A repeated letter or an unknown one stops at once; a bad token is remembered
// (the last such message wins, and F keeps the message it found) while the scan goes on.
FlagResult ParseFlags(const MetaTokens& t, size_t first, size_t max_key, Request& req) {
  MetaRequest& m = req.meta;
  FlagResult r;
  std::string_view error = kReplyBadFormat;
  bool has_error = false;
  const size_t n = std::min(t.count, kMaxTokens);
  for (size_t i = first; i < n; ++i) {
    const std::string_view tok = t.tok[i];
    const char letter = tok[0];
    const std::string_view arg = tok.substr(1);
    const int bit = MetaRequest::Bit(letter);
    if (static_cast<unsigned char>(letter) >= 127 || (bit >= 0 && m.Has(letter))) {
      return FlagResult{false, kReplyDuplicateFlag};
    }
    switch (letter) {
      case 'b':
        m.base64 = true;
        if (!DecodeBase64(t.tok[1], m.key_buf)) {
          error = kReplyBadKeyEncoding;
          has_error = true;
        }
        break;
      case 'N':
      case 'T':
      case 'R': {
        const std::optional<int64_t> v = MemcachedSigned32(arg);
        if (!v) {
          error = kReplyBadToken;
          has_error = true;
        } else {
          (letter == 'N' ? m.vivify_ttl : letter == 'T' ? m.ttl : m.recache_ttl) = *v;
        }
        break;
      }
      case 'O':
        m.opaque = tok;
        break;
      case 'P':  // proxy hints: accepted and ignored, as memcached does
      case 'L':
      case 'k':
      case 's':
      case 't':
      case 'c':
      case 'f':
      case 'l':
      case 'h':
      case 'u':
        break;
      case 'v':
        m.value = true;
        break;
      case 'q':
        m.quiet = true;
        break;
      case 'F': {
        const std::optional<uint32_t> v = MemcachedUnsigned32(arg);
        if (!v) {
          has_error = true;
        } else {
          m.client_flags = *v;
        }
        break;
      }
      case 'C': {
        const std::optional<uint64_t> v = MemcachedUnsigned(arg);
        if (!v) {
          error = kReplyBadToken;
          has_error = true;
        } else {
          m.compare_cas = *v;
        }
        break;
      }
      case 'M':
        if (tok.size() != 2) {
          error = kReplyModeLength;
          has_error = true;
        } else {
          m.mode = tok[1];
        }
        break;
      case 'J':
      case 'D': {
        const std::optional<uint64_t> v = MemcachedUnsigned(arg);
        if (!v) {
          error = letter == 'J' ? kReplyBadInitial : kReplyBadDelta;
          has_error = true;
        } else {
          (letter == 'J' ? m.initial : m.delta) = *v;
        }
        break;
      }
      case 'I':
        m.invalidate = true;
        break;
      default:
        return FlagResult{false, kReplyInvalidFlag};
    }
    m.present |= uint64_t{1} << bit;
    m.order[m.count++] = letter;
  }
  if (has_error) return FlagResult{false, error};
  // Our own rule on top of memcached's: a key sent as text must be printable. A base64 key may
  // decode to any bytes.
  if (m.base64) {
    req.keys.push_back(m.key_buf);
  } else if (!ValidKey(t.tok[1], max_key)) {
    return FlagResult{false, kReplyBadFormat};
  } else {
    req.keys.push_back(t.tok[1]);
  }
  return r;
}

bool OpaqueTooLong(const MetaRequest& m) { return m.opaque.size() > kMaxOpaque; }

ParseOutcome ParseMetaSet(std::string_view input, const MetaTokens& t, size_t line_bytes,
                          const ParserLimits& limits, Request& req) {
  if (t.count < 3) return Fail(line_bytes, kReplyBadFormat);
  if (t.count > kMaxTokens) return Fail(line_bytes, kReplyTooManyFlags);
  const std::optional<int64_t> length = MemcachedSigned32(t.tok[2]);
  if (!length || *length < 0 || *length > kMaxDataLength) return Fail(line_bytes, kReplyBadFormat);
  // From here on memcached reads (and on error swallows) the data block.
  const uint64_t block = static_cast<uint64_t>(*length) + 2;
  MetaRequest& m = req.meta;
  const FlagResult flags = ParseFlags(t, 3, limits.max_key, req);
  if (!flags.ok) return Fail(line_bytes, flags.error, block);
  switch (m.mode) {
    case 0:
    case 'E':
    case 'A':
    case 'P':
    case 'R':
    case 'S':
      break;
    default:
      return Fail(line_bytes, kReplyBadSetMode, block);
  }
  if (OpaqueTooLong(m)) return Fail(line_bytes, kReplyOpaqueTooLong, block);
  req.bytes = static_cast<uint32_t>(*length);
  if (*length > static_cast<int64_t>(limits.max_value)) {
    // Answered by the connection, which also drops the key's old value as memcached does.
    m.too_large = true;
    m.swallow = block;
    return Ok(line_bytes);
  }
  if (input.size() - line_bytes < block) return ParseOutcome{};
  const size_t end = line_bytes + static_cast<size_t>(block);
  if (input[end - 2] != '\r' || input[end - 1] != '\n') return Fail(end, kReplyBadChunk);
  req.data = input.substr(line_bytes, static_cast<size_t>(*length));
  return Ok(end);
}

}  // namespace

bool IsMetaCommand(std::string_view name) {
  return name.size() == 2 && name[0] == 'm' &&
         std::string_view("gsdnae").find(name[1]) != std::string_view::npos;
}

ParseOutcome ParseMeta(std::string_view input, std::string_view text, size_t line_bytes,
                       const ParserLimits& limits, Request& req) {
  const MetaTokens t = Tokenize(text);
  switch (t.tok[0][1]) {
    case 'g':
      req.cmd = Command::kMetaGet;
      break;
    case 's':
      req.cmd = Command::kMetaSet;
      break;
    case 'd':
      req.cmd = Command::kMetaDelete;
      break;
    case 'a':
      req.cmd = Command::kMetaArithmetic;
      break;
    case 'e':
      req.cmd = Command::kMetaDebug;
      break;
    default:
      req.cmd = Command::kMetaNoop;  // "mn" ignores any arguments
      return Ok(line_bytes);
  }
  // memcached answers a bare "me" with a format error and the other bare commands with ERROR.
  if (t.count < 2)
    return Fail(line_bytes, req.cmd == Command::kMetaDebug ? kReplyBadFormat : kReplyError);
  const std::string_view key = t.tok[1];
  if (key.size() > limits.max_key) return Fail(line_bytes, kReplyBadFormat);

  if (req.cmd == Command::kMetaDebug) {
    // "me <key> [b]": only a "b" right after the key means base64; other tokens are ignored.
    MetaRequest& m = req.meta;
    if (t.count >= 3 && t.tok[2] == "b") {
      if (!DecodeBase64(key, m.key_buf)) return Fail(line_bytes, kReplyBadFormat);
      m.base64 = true;
      req.keys.push_back(m.key_buf);
    } else if (!ValidKey(key, limits.max_key)) {
      return Fail(line_bytes, kReplyBadFormat);
    } else {
      req.keys.push_back(key);
    }
    return Ok(line_bytes);
  }
  if (req.cmd == Command::kMetaSet) return ParseMetaSet(input, t, line_bytes, limits, req);

  const bool is_get = req.cmd == Command::kMetaGet;
  if (t.count > kMaxTokens) {
    return Fail(line_bytes, is_get ? kReplyTooManyFlagsGet : kReplyTooManyFlags);
  }
  const FlagResult flags = ParseFlags(t, 2, limits.max_key, req);
  // md and ma report every flag error with one message.
  if (!flags.ok) return Fail(line_bytes, is_get ? flags.error : kReplyInvalidOrDuplicate);
  if (req.cmd == Command::kMetaArithmetic) {
    switch (req.meta.mode) {
      case 0:
      case 'I':
      case '+':
      case 'D':
      case '-':
        break;
      default:
        return Fail(line_bytes, kReplyBadArithMode);
    }
  }
  if (OpaqueTooLong(req.meta)) return Fail(line_bytes, kReplyOpaqueTooLong);
  return Ok(line_bytes);
}

}  // namespace ssdcache::protocol
