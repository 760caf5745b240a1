#include "protocol/parser.h"

#include <cstring>
#include <limits>
#include <optional>

#include "protocol/numbers.h"

namespace ssdcache::protocol {
namespace {

constexpr size_t kNpos = std::string_view::npos;

// Reply lines, byte for byte as memcached 1.6.18 sends them.
constexpr std::string_view kReplyError = "ERROR\r\n";
constexpr std::string_view kReplyBadFormat = "CLIENT_ERROR bad command line format\r\n";
constexpr std::string_view kReplyBadChunk = "CLIENT_ERROR bad data chunk\r\n";
constexpr std::string_view kReplyTooLarge = "SERVER_ERROR object too large for cache\r\n";
constexpr std::string_view kReplyBadDelta = "CLIENT_ERROR invalid numeric delta argument\r\n";
constexpr std::string_view kReplyBadExptime = "CLIENT_ERROR invalid exptime argument\r\n";
constexpr std::string_view kReplyDeleteUsage =
    "CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\n";
constexpr std::string_view kNoreply = "noreply";

// memcached stores vlen + 2 in an int, so a longer block is a bad command line, not "too large".
constexpr int64_t kMaxDeclaredLength = std::numeric_limits<int32_t>::max() - 2;

struct CommandName {
  std::string_view name;
  Command cmd;
};
constexpr CommandName kCommands[] = {
    {"get", Command::kGet},
    {"bget", Command::kGet},  // an old name memcached 1.6.18 still serves
    {"gets", Command::kGets},
    {"gat", Command::kGat},
    {"gats", Command::kGats},
    {"set", Command::kSet},
    {"add", Command::kAdd},
    {"replace", Command::kReplace},
    {"append", Command::kAppend},
    {"prepend", Command::kPrepend},
    {"cas", Command::kCas},
    {"incr", Command::kIncr},
    {"decr", Command::kDecr},
    {"delete", Command::kDelete},
    {"touch", Command::kTouch},
    {"flush_all", Command::kFlushAll},
    {"version", Command::kVersion},
    {"verbosity", Command::kVerbosity},
    {"quit", Command::kQuit},
    {"stats", Command::kStats},
    {"shutdown", Command::kShutdown},
    {"lru_crawler", Command::kLruCrawler},
    {"refresh_certs", Command::kRefreshCerts},
};

std::optional<Command> LookupCommand(std::string_view name) {
  for (const CommandName& c : kCommands) {
    if (c.name == name) return c.cmd;
  }
  return std::nullopt;
}

bool IsGetFamily(Command cmd) {
  return cmd == Command::kGet || cmd == Command::kGets || cmd == Command::kGat ||
         cmd == Command::kGats;
}

bool IsTouching(Command cmd) { return cmd == Command::kGat || cmd == Command::kGats; }

size_t Find(std::string_view s, size_t from, size_t to, char c) {
  if (from >= to) return kNpos;
  const void* p = std::memchr(s.data() + from, c, to - from);
  return p == nullptr ? kNpos : static_cast<size_t>(static_cast<const char*>(p) - s.data());
}

size_t SkipSpaces(std::string_view s, size_t i) {
  while (i < s.size() && s[i] == ' ') ++i;
  return i;
}

size_t TokenEnd(std::string_view s, size_t i) {
  while (i < s.size() && s[i] != ' ') ++i;
  return i;
}

// Substring by [begin, end) offsets that never throws: callers only pass offsets within `s`.
std::string_view Slice(std::string_view s, size_t begin, size_t end) {
  return std::string_view(s.data() + begin, end - begin);
}

std::string_view TrimSpaces(std::string_view s) {
  size_t b = SkipSpaces(s, 0);
  size_t e = s.size();
  while (e > b && s[e - 1] == ' ') --e;
  return Slice(s, b, e);
}

// The product accepts printable keys only; memcached itself only checks the length.
bool ValidKey(std::string_view key, size_t max_key) {
  if (key.empty() || key.size() > max_key) return false;
  for (char ch : key) {
    const auto c = static_cast<unsigned char>(ch);
    if (c <= 0x20 || c == 0x7f) return false;
  }
  return true;
}

// memcached closes the connection without a reply on an unknown command whose last token begins
// with "HTTP/" (a browser or an HTTP probe: "GET / HTTP/1.1"). The rule sits in the last branch of
// its dispatch, so it does not apply where an earlier branch answers ERROR: a name of fewer than
// two bytes, a name beginning with g s a c i d or t (each letter has its own branch), a two-byte
// name beginning with m (the meta commands), or a command memcached has and ssdcached does not.
// Its tokenizer stops after 23 tokens, and then the 23rd counts as the last.
bool IsHttpRequestLine(std::string_view text) {
  constexpr size_t kMemcachedTokens = 23;
  constexpr std::string_view kOwnBranch = "gsacidt";
  constexpr std::string_view kOtherCommands[] = {"bget", "lru_crawler", "watch",
                                                 "lru",  "extstore",    "refresh_certs"};
  size_t i = SkipSpaces(text, 0);
  const std::string_view name = Slice(text, i, TokenEnd(text, i));
  if (name.size() < 2 || kOwnBranch.find(name[0]) != kNpos) return false;
  if (name[0] == 'm' && name.size() == 2) return false;
  for (std::string_view other : kOtherCommands) {
    if (name == other) return false;
  }
  std::string_view last;
  for (size_t count = 0; i < text.size() && count < kMemcachedTokens; ++count) {
    const size_t end = TokenEnd(text, i);
    last = Slice(text, i, end);
    i = SkipSpaces(text, end);
  }
  return last.starts_with("HTTP/");
}

// --- Lines ---------------------------------------------------------------------------------------

struct Line {
  // The line's content without "\r\n". memcached handles the line as a C string, so a NUL byte
  // ends it; the bytes from the NUL to the newline are dropped with the line.
  std::string_view text;
  bool complete = false;  // text holds the whole line (a newline or a NUL was seen)
  bool newline = false;   // the terminating '\n' is in the input
  size_t consumed = 0;    // bytes the line occupies in the input: through '\n', else everything
};

Line MakeLine(std::string_view input, size_t nl) {
  Line line;
  size_t end = input.size();
  line.consumed = input.size();
  if (nl != kNpos) {
    line.complete = line.newline = true;
    line.consumed = nl + 1;
    end = nl;
    if (end > 0 && input[end - 1] == '\r') --end;
  }
  const size_t nul = Find(input, 0, end, '\0');
  if (nul != kNpos) {
    end = nul;
    line.complete = true;
  }
  line.text = Slice(input, 0, end);
  return line;
}

// Splits on ' ' (memcached ignores runs of spaces; tabs belong to tokens). Only the first kKept
// tokens are kept, but all are counted so a command can refuse a wrong count.
struct Tokens {
  static constexpr size_t kKept = 8;
  std::string_view tok[kKept];
  std::string_view last;  // memcached looks for "noreply" in the last token
  size_t count = 0;
};

Tokens Tokenize(std::string_view text) {
  Tokens t;
  size_t i = SkipSpaces(text, 0);
  while (i < text.size()) {
    const size_t end = TokenEnd(text, i);
    t.last = Slice(text, i, end);
    if (t.count < Tokens::kKept) t.tok[t.count] = t.last;
    ++t.count;
    i = SkipSpaces(text, end);
  }
  return t;
}

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

// memcached drops its reply, error or not, once it has seen "noreply" as the last token.
std::string_view Quiet(const Request& req, std::string_view reply) {
  return req.noreply ? std::string_view() : reply;
}

// --- Commands other than the get family; `line` is complete and ends with a newline. -------------

ParseOutcome ParseStorage(std::string_view input, const Line& line, const Tokens& t,
                          const ParserLimits& limits, Request& req) {
  const bool is_cas = req.cmd == Command::kCas;
  const size_t base = is_cas ? 6 : 5;
  if (t.count != base && t.count != base + 1) return Fail(line.consumed, kReplyError);
  // A token in the noreply slot that is not "noreply" is ignored, as memcached does.
  req.noreply = t.last == kNoreply;
  const std::string_view key = t.tok[1];
  if (key.size() > limits.max_key) return Fail(line.consumed, Quiet(req, kReplyBadFormat));
  req.keys.push_back(key);

  // First, memcached's view: it decides whether the data block is read at all.
  const std::optional<uint64_t> c_flags = MemcachedUnsigned(t.tok[2]);
  const std::optional<int64_t> c_exptime = MemcachedSigned(t.tok[3]);
  // memcached keeps the length in an int: the long strtol returned is cut to 32 bits.
  const std::optional<int64_t> c_length = MemcachedSigned32(t.tok[4]);
  const std::optional<uint64_t> c_cas =
      is_cas ? MemcachedUnsigned(t.tok[5]) : std::optional<uint64_t>(0);
  if (!c_flags || !c_exptime || !c_length || !c_cas) {
    return Fail(line.consumed, Quiet(req, kReplyBadFormat));
  }
  const int64_t length = *c_length;
  if (length < 0 || length > kMaxDeclaredLength) {
    return Fail(line.consumed, Quiet(req, kReplyBadFormat));
  }
  const uint64_t block = static_cast<uint64_t>(length) + 2;
  if (length > static_cast<int64_t>(limits.max_value)) {
    ParseOutcome out = Fail(line.consumed, Quiet(req, kReplyTooLarge), block);
    out.too_large = true;
    return out;
  }

  // Then our stricter rules. memcached would store this request, so its block is swallowed to
  // keep the stream framed as memcached frames it.
  uint64_t flags = 0;
  uint64_t bytes = 0;
  if (!StrictUnsigned(t.tok[2], std::numeric_limits<uint32_t>::max(), flags) ||
      !StrictExptime(t.tok[3], req.exptime) ||
      !StrictUnsigned(t.tok[4], static_cast<uint64_t>(kMaxDeclaredLength), bytes) ||
      (is_cas && !StrictUnsigned(t.tok[5], std::numeric_limits<uint64_t>::max(), req.cas_unique)) ||
      !ValidKey(key, limits.max_key)) {
    return Fail(line.consumed, Quiet(req, kReplyBadFormat), block);
  }
  req.flags = static_cast<uint32_t>(flags);
  req.bytes = static_cast<uint32_t>(bytes);

  const size_t start = line.consumed;
  if (input.size() - start < block) return ParseOutcome{};
  const size_t end = start + static_cast<size_t>(block);
  if (input[end - 2] != '\r' || input[end - 1] != '\n') {
    // memcached reads the declared length + 2 and only then looks at the last two bytes: the
    // whole block goes, and the stream resumes right after it.
    return Fail(end, Quiet(req, kReplyBadChunk));
  }
  req.data = Slice(input, start, end - 2);
  return Ok(end);
}

ParseOutcome ParseArithmetic(const Line& line, const Tokens& t, const ParserLimits& limits,
                             Request& req) {
  if (t.count != 3 && t.count != 4) return Fail(line.consumed, kReplyError);
  req.noreply = t.last == kNoreply;
  const std::string_view key = t.tok[1];
  if (key.size() > limits.max_key) return Fail(line.consumed, Quiet(req, kReplyBadFormat));
  if (!StrictUnsigned(t.tok[2], std::numeric_limits<uint64_t>::max(), req.delta)) {
    return Fail(line.consumed, Quiet(req, kReplyBadDelta));
  }
  if (!ValidKey(key, limits.max_key)) return Fail(line.consumed, Quiet(req, kReplyBadFormat));
  req.keys.push_back(key);
  return Ok(line.consumed);
}

ParseOutcome ParseDelete(const Line& line, const Tokens& t, const ParserLimits& limits,
                         Request& req) {
  if (t.count < 2 || t.count > 4) return Fail(line.consumed, kReplyError);
  if (t.count > 2) {
    // The legacy "delete <key> 0" (a hold time of exactly "0") is tolerated; any other extra
    // token is a usage error.
    const bool zero_hold = t.tok[2] == "0";
    req.noreply = t.last == kNoreply;
    const bool valid =
        (t.count == 3 && (zero_hold || req.noreply)) || (t.count == 4 && zero_hold && req.noreply);
    if (!valid) return Fail(line.consumed, Quiet(req, kReplyDeleteUsage));
  }
  const std::string_view key = t.tok[1];
  if (!ValidKey(key, limits.max_key)) return Fail(line.consumed, Quiet(req, kReplyBadFormat));
  req.keys.push_back(key);
  return Ok(line.consumed);
}

ParseOutcome ParseTouch(const Line& line, const Tokens& t, const ParserLimits& limits,
                        Request& req) {
  if (t.count != 3 && t.count != 4) return Fail(line.consumed, kReplyError);
  req.noreply = t.last == kNoreply;
  const std::string_view key = t.tok[1];
  if (key.size() > limits.max_key) return Fail(line.consumed, Quiet(req, kReplyBadFormat));
  if (!StrictExptime(t.tok[2], req.exptime)) {
    return Fail(line.consumed, Quiet(req, kReplyBadExptime));
  }
  if (!ValidKey(key, limits.max_key)) return Fail(line.consumed, Quiet(req, kReplyBadFormat));
  req.keys.push_back(key);
  return Ok(line.consumed);
}

ParseOutcome ParseFlushAll(const Line& line, const Tokens& t, Request& req) {
  if (t.count > 3) return Fail(line.consumed, kReplyError);
  req.noreply = t.count >= 2 && t.last == kNoreply;
  // memcached reads a delay whenever the line is not exactly "flush_all [noreply]", and ignores a
  // third token that is not "noreply".
  if (t.count != (req.noreply ? 2u : 1u)) {
    if (!StrictExptime(t.tok[1], req.delay)) {
      return Fail(line.consumed, Quiet(req, kReplyBadExptime));
    }
    req.has_delay = true;
  }
  return Ok(line.consumed);
}

ParseOutcome ParseVerbosity(const Line& line, const Tokens& t, Request& req) {
  if (t.count != 2 && t.count != 3) return Fail(line.consumed, kReplyError);
  req.noreply = t.last == kNoreply;
  uint64_t level = 0;
  if (!StrictUnsigned(t.tok[1], std::numeric_limits<uint64_t>::max(), level)) {
    return Fail(line.consumed, Quiet(req, kReplyBadFormat));
  }
  // memcached answers OK to any level up to 2^64-1 and clamps it to its maximum, so a huge level
  // saturates rather than failing.
  req.verbosity = level > std::numeric_limits<uint32_t>::max()
                      ? std::numeric_limits<uint32_t>::max()
                      : static_cast<uint32_t>(level);
  return Ok(line.consumed);
}

// --- The get family --------------------------------------------------------------------------

struct KeysResult {
  ParseOutcome out;
  bool continues = false;  // more keys of this line follow in later calls
  bool skip_rest = false;  // the line was finished before its newline arrived: drop up to it
};

KeysResult LineFailed(const Line& line, std::string_view reply, Request& req) {
  req.keys.clear();
  return KeysResult{Fail(line.consumed, reply), false, !line.newline};
}

// Collects the keys in line.text[pos..]. When the line is not complete, only keys followed by a
// space are taken and the chunk ends before the first partial one.
KeysResult ScanKeys(const Line& line, size_t pos, bool first_chunk, const ParserLimits& limits,
                    Request& req) {
  const std::string_view text = line.text;
  size_t resume = pos;
  for (size_t i = pos;;) {
    i = SkipSpaces(text, i);
    resume = i;
    if (i == text.size()) break;
    const size_t end = TokenEnd(text, i);
    const std::string_view key = Slice(text, i, end);
    if (end == text.size() && !line.complete) {
      if (key.size() > limits.max_key) return LineFailed(line, kReplyBadFormat, req);
      break;
    }
    // memcached refuses the whole line for one bad key and sends none of the values.
    if (!ValidKey(key, limits.max_key)) return LineFailed(line, kReplyBadFormat, req);
    req.keys.push_back(key);
    i = end;
  }

  if (!line.complete) {
    if (resume == 0) return KeysResult{ParseOutcome{}, true, false};
    KeysResult r{Ok(resume), true, false};
    req.more_keys = true;
    return r;
  }
  if (first_chunk && req.keys.empty() && !IsTouching(req.cmd)) {
    return LineFailed(line, kReplyError, req);  // "get" with no key
  }
  return KeysResult{Ok(line.consumed), false, !line.newline};
}

// The first chunk of a get-family line: `pos` is just past the command name.
KeysResult ParseGetLine(const Line& line, size_t pos, const ParserLimits& limits, Request& req) {
  if (IsTouching(req.cmd)) {
    const std::string_view text = line.text;
    const size_t begin = SkipSpaces(text, pos);
    if (begin == text.size() && line.complete) return LineFailed(line, kReplyError, req);
    const size_t end = TokenEnd(text, begin);
    // An exptime still unfinished after max_line bytes cannot be a number worth waiting for.
    if ((end == text.size() && !line.complete) ||
        !StrictExptime(Slice(text, begin, end), req.exptime)) {
      return LineFailed(line, kReplyBadExptime, req);
    }
    pos = end;
  }
  return ScanKeys(line, pos, /*first_chunk=*/true, limits, req);
}

// True when `input` starts with a get-family command followed by a space: the only commands whose
// line may grow past max_line. As memcached, which takes such a line for a multi-get only when at
// most 100 spaces precede "get " or "gets " (so not "bget ", which it serves as a get otherwise).
bool StartsGetFamily(std::string_view input) {
  constexpr size_t kMaxLeadingSpaces = 100;
  const size_t begin = SkipSpaces(input, 0);
  if (begin > kMaxLeadingSpaces) return false;
  const size_t end = TokenEnd(input, begin);
  if (end == input.size() || Slice(input, begin, end) == "bget") return false;
  const std::optional<Command> cmd = LookupCommand(Slice(input, begin, end));
  return cmd && IsGetFamily(*cmd);
}

}  // namespace

// Longer than ~80 lines on purpose: the dispatch from a command's first token to its grammar reads
// as one table, in memcached's order (proto_text.c), and each branch is a line or two.
ParseOutcome Parser::Parse(std::string_view input, Request& req) {
  req.Clear();
  // Clear() keeps cmd; reset it so a reply to an unknown command never names the previous one.
  req.cmd = Command::kGet;
  if (input.empty()) return ParseOutcome{};

  if (skip_line_) {
    // The rest of a long get line that was already answered: drop it silently.
    const size_t nl = Find(input, 0, input.size(), '\n');
    skip_line_ = nl == kNpos;
    return Fail(nl == kNpos ? input.size() : nl + 1, {});
  }

  KeysResult keys;
  if (in_multiget_) {
    const size_t nl = Find(input, 0, input.size(), '\n');
    if (nl == kNpos && input.size() <= limits_.max_line) return ParseOutcome{};
    req.cmd = multiget_cmd_;
    req.exptime = multiget_exptime_;
    keys = ScanKeys(MakeLine(input, nl), 0, /*first_chunk=*/false, limits_, req);
  } else {
    const size_t head = std::min(input.size(), limits_.max_line + 1);
    size_t nl = Find(input, 0, head, '\n');
    if (nl == kNpos) {
      if (input.size() <= limits_.max_line) return ParseOutcome{};
      if (!StartsGetFamily(input)) {
        // memcached closes such a connection without a reply (after answering what came before).
        ParseOutcome out = Fail(input.size(), {});
        out.close = true;
        return out;
      }
      nl = Find(input, head, input.size(), '\n');
    }
    const Line line = MakeLine(input, nl);
    const size_t begin = SkipSpaces(line.text, 0);
    const size_t end = TokenEnd(line.text, begin);
    const std::optional<Command> cmd = LookupCommand(Slice(line.text, begin, end));
    if (!cmd && IsMetaCommand(Slice(line.text, begin, end))) {
      return ParseMeta(input, line.text, line.consumed, limits_, req);
    }
    if (!cmd && IsHttpRequestLine(line.text)) {
      ParseOutcome out = Fail(line.consumed, {});
      out.close = true;
      return out;
    }
    if (!cmd) return Fail(line.consumed, kReplyError);
    req.cmd = *cmd;
    if (IsGetFamily(*cmd)) {
      keys = ParseGetLine(line, end, limits_, req);
    } else {
      // Only get-family lines may be incomplete or longer than max_line (see above).
      const Tokens t = Tokenize(line.text);
      switch (*cmd) {
        case Command::kSet:
        case Command::kAdd:
        case Command::kReplace:
        case Command::kAppend:
        case Command::kPrepend:
        case Command::kCas:
          return ParseStorage(input, line, t, limits_, req);
        case Command::kIncr:
        case Command::kDecr:
          return ParseArithmetic(line, t, limits_, req);
        case Command::kDelete:
          return ParseDelete(line, t, limits_, req);
        case Command::kTouch:
          return ParseTouch(line, t, limits_, req);
        case Command::kFlushAll:
          return ParseFlushAll(line, t, req);
        case Command::kVerbosity:
          return ParseVerbosity(line, t, req);
        case Command::kStats:
        case Command::kShutdown:
        case Command::kLruCrawler:
        case Command::kRefreshCerts:
          req.stats_arg = TrimSpaces(Slice(line.text, end, line.text.size()));
          return Ok(line.consumed);
        case Command::kVersion:
        case Command::kQuit:
          return Ok(line.consumed);  // memcached ignores any arguments
        default:
          return Fail(line.consumed, kReplyError);  // unreachable: get family handled above
      }
    }
  }

  in_multiget_ = keys.continues;
  skip_line_ = keys.skip_rest;
  if (in_multiget_) {
    multiget_cmd_ = req.cmd;
    multiget_exptime_ = req.exptime;
  }
  return keys.out;
}

}  // namespace ssdcache::protocol
