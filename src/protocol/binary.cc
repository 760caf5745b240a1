#include "protocol/binary.h"

#include <charconv>
#include <cstring>
#include <type_traits>

namespace ssdcache::protocol::binary {
namespace {

uint16_t Load16(const char* p) {
  return static_cast<uint16_t>((static_cast<uint8_t>(p[0]) << 8) | static_cast<uint8_t>(p[1]));
}
uint32_t Load32(const char* p) { return (uint32_t{Load16(p)} << 16) | Load16(p + 2); }
uint64_t Load64(const char* p) { return (uint64_t{Load32(p)} << 32) | Load32(p + 4); }

void Put16(std::string& out, uint16_t v) {
  out.push_back(static_cast<char>(v >> 8));
  out.push_back(static_cast<char>(v));
}
void Put32(std::string& out, uint32_t v) {
  Put16(out, static_cast<uint16_t>(v >> 16));
  Put16(out, static_cast<uint16_t>(v));
}
void Put64(std::string& out, uint64_t v) {
  Put32(out, static_cast<uint32_t>(v >> 32));
  Put32(out, static_cast<uint32_t>(v));
}

bool IsQuiet(uint8_t op) {
  switch (op) {
    case kGetQ:
    case kGetKQ:
    case kGatQ:
    case kGatKQ:
    case kSetQ:
    case kAddQ:
    case kReplaceQ:
    case kDeleteQ:
    case kIncrementQ:
    case kDecrementQ:
    case kQuitQ:
    case kFlushQ:
    case kAppendQ:
    case kPrependQ:
      return true;
    default:
      return false;
  }
}

bool IsGet(uint8_t op) {
  switch (op) {
    case kGet:
    case kGetQ:
    case kGetK:
    case kGetKQ:
    case kGat:
    case kGatQ:
    case kGatK:
    case kGatKQ:
    case kTouch:
      return true;
    default:
      return false;
  }
}

bool ReturnsKey(uint8_t op) { return op == kGetK || op == kGetKQ || op == kGatK || op == kGatKQ; }

void AddFlag(MetaRequest& m, char letter) {
  m.order[m.count++] = letter;
  m.present |= uint64_t{1} << MetaRequest::Bit(letter);
}

// The status of a meta reply code for the binary opcode that asked.
uint16_t StatusOf(std::string_view code, uint8_t op) {
  if (code == "HD" || code == "VA") return kSuccess;
  if (code == "EN" || code == "NF") return kKeyNotFound;
  if (code == "EX") return kKeyExists;
  if (code == "NS") {
    // memcached answers a refused add "exists" and a refused replace "not found".
    if (op == kAdd || op == kAddQ) return kKeyExists;
    if (op == kReplace || op == kReplaceQ) return kKeyNotFound;
    return kNotStored;
  }
  return kInvalidArguments;
}

// The status of an ASCII error or admin line.
uint16_t StatusOfLine(std::string_view line) {
  if (line == "OK\r\n" || line == "MN\r\n" || line == "RESET\r\n") return kSuccess;
  if (line == "EN\r\n" || line == "NOT_FOUND\r\n") return kKeyNotFound;
  if (line == "ERROR\r\n") return kUnknownCommand;
  if (line.starts_with("CLIENT_ERROR cannot increment")) return kNonNumeric;
  if (line == "CLIENT_ERROR flush_all not allowed\r\n") return kAuthError;  // -F, as memcached
  if (line.starts_with("SERVER_ERROR object too large")) return kTooLarge;
  if (line.starts_with("SERVER_ERROR out of memory")) return kOutOfMemory;
  if (line.starts_with("SERVER_ERROR")) return 0x0084;  // memcached's "internal error"
  return kInvalidArguments;
}

std::string_view Message(uint16_t status) {
  switch (status) {
    case kKeyNotFound:
      return "Not found";
    case kKeyExists:
      return "Data exists for key.";
    case kTooLarge:
      return "Too large.";
    case kInvalidArguments:
      return "Invalid arguments";
    case kNotStored:
      return "Not stored.";
    case kNonNumeric:
      return "Non-numeric server-side value for incr or decr";
    case kUnknownCommand:
      return "Unknown command";
    case kOutOfMemory:
      return "Out of memory";
    case kAuthError:
      return "Auth failure.";
    default:
      return "Internal error";
  }
}

// `stats` text ("STAT name value\r\n" ... "END\r\n"): one response per stat, then an empty one.
void ComposeStats(std::string_view text, const MetaRequest& ctx, std::string& out) {
  while (text.starts_with("STAT ")) {
    const size_t eol = text.find("\r\n");
    std::string_view line = text.substr(5, eol == std::string_view::npos ? text.npos : eol - 5);
    const size_t space = line.find(' ');
    const std::string_view name = line.substr(0, space);
    const std::string_view value =
        space == std::string_view::npos ? std::string_view{} : line.substr(space + 1);
    AppendResponse(out, ctx.bin_opcode, kSuccess, ctx.bin_opaque, 0, {}, name, value);
    if (eol == std::string_view::npos) break;
    text.remove_prefix(eol + 2);
  }
  AppendResponse(out, ctx.bin_opcode, kSuccess, ctx.bin_opaque, 0, {}, {}, {});
}

void ComposeLine(std::string_view line, const MetaRequest& ctx, std::string& out) {
  const uint8_t op = ctx.bin_opcode;
  if (op == kStat && (line.starts_with("STAT ") || line == "END\r\n")) {
    ComposeStats(line, ctx, out);
    return;
  }
  if (op == kVersion && line.starts_with("VERSION ")) {
    line.remove_prefix(8);
    if (line.ends_with("\r\n")) line.remove_suffix(2);
    AppendResponse(out, op, kSuccess, ctx.bin_opaque, 0, {}, {}, line);
    return;
  }
  // memcached answers a stats group it does not know "not found".
  const uint16_t status =
      op == kStat && StatusOfLine(line) != kSuccess ? uint16_t{kKeyNotFound} : StatusOfLine(line);
  if (Suppressed(op, status)) return;
  if (status == kSuccess) {
    AppendResponse(out, op, kSuccess, ctx.bin_opaque, 0, {}, {}, {});
  } else {
    AppendError(out, op, status, ctx.bin_opaque);
  }
}

void ComposeMeta(const MetaReply& r, const MetaRequest& ctx, std::string& out) {
  const uint8_t op = ctx.bin_opcode;
  const uint16_t status = StatusOf(r.send_value ? "VA" : r.code, op);
  if (Suppressed(op, status)) return;
  if (status == kKeyNotFound && ReturnsKey(op)) {
    // memcached answers a getk miss with the key instead of a message.
    AppendResponse(out, op, status, ctx.bin_opaque, 0, {}, r.key, {});
    return;
  }
  if (status != kSuccess) {
    AppendError(out, op, status, ctx.bin_opaque);
    return;
  }
  if (IsGet(op)) {
    char flags[4];
    const uint32_t f = r.client_flags;
    flags[0] = static_cast<char>(f >> 24);
    flags[1] = static_cast<char>(f >> 16);
    flags[2] = static_cast<char>(f >> 8);
    flags[3] = static_cast<char>(f);
    AppendResponse(out, op, kSuccess, ctx.bin_opaque, r.cas, std::string_view(flags, 4),
                   ReturnsKey(op) ? r.key : std::string_view{},
                   op == kTouch ? std::string_view{} : r.value);
    return;
  }
  if (op == kIncrement || op == kIncrementQ || op == kDecrement || op == kDecrementQ) {
    uint64_t v = 0;
    std::from_chars(r.value.data(), r.value.data() + r.value.size(), v);
    char body[8];
    for (int i = 0; i < 8; ++i) body[i] = static_cast<char>(v >> (56 - 8 * i));
    AppendResponse(out, op, kSuccess, ctx.bin_opaque, r.cas, {}, {}, std::string_view(body, 8));
    return;
  }
  AppendResponse(out, op, kSuccess, ctx.bin_opaque, r.cas, {}, {}, {});
}

}  // namespace

BinaryOutcome ParseBinary(std::string_view input, uint32_t max_body, BinaryRequest& req) {
  BinaryOutcome out;
  // As memcached: a whole header first, then its magic is checked (text on a -B binary
  // connection waits for 24 bytes before it is refused).
  if (input.size() < kHeaderSize) return out;
  if (static_cast<uint8_t>(input[0]) != kRequestMagic) {
    out.status = BinaryStatus::kInvalid;
    return out;
  }
  const char* p = input.data();
  Header& h = req.header;
  h.magic = static_cast<uint8_t>(p[0]);
  h.opcode = static_cast<uint8_t>(p[1]);
  h.key_length = Load16(p + 2);
  h.extras_length = static_cast<uint8_t>(p[4]);
  h.data_type = static_cast<uint8_t>(p[5]);
  h.vbucket = Load16(p + 6);
  h.body_length = Load32(p + 8);
  std::memcpy(&h.opaque, p + 12, 4);
  h.cas = Load64(p + 16);
  if (uint32_t{h.key_length} + h.extras_length > h.body_length || h.body_length > kMaxBody) {
    out.status = BinaryStatus::kInvalid;
    return out;
  }
  if (h.body_length > max_body) {
    out.status = BinaryStatus::kTooLarge;
    out.consumed = kHeaderSize;
    return out;
  }
  const size_t total = kHeaderSize + h.body_length;
  if (input.size() < total) return out;
  req.extras = input.substr(kHeaderSize, h.extras_length);
  req.key = input.substr(kHeaderSize + h.extras_length, h.key_length);
  const size_t value_at = kHeaderSize + h.extras_length + h.key_length;
  req.value = input.substr(value_at, total - value_at);
  out.status = BinaryStatus::kOk;
  out.consumed = total;
  return out;
}

// Per opcode, the shape memcached accepts (extras, key, value) and the Request it becomes. Kept in
// one switch so that the table of opcodes reads as one.
Status ToRequest(const BinaryRequest& in, size_t max_key, Request& out) {
  out.Clear();
  const Header& h = in.header;
  MetaRequest& m = out.meta;
  m.binary = true;  // set first: an error reply is composed for this opcode and opaque too
  m.bin_opcode = h.opcode;
  m.bin_opaque = h.opaque;
  const size_t ext = in.extras.size();
  const bool has_key = !in.key.empty();
  const bool has_value = !in.value.empty();
  if (in.key.size() > max_key) return kInvalidArguments;
  auto keyed = [&](Command cmd) {
    out.cmd = cmd;
    out.keys.push_back(in.key);
  };
  if (IsGet(h.opcode)) {
    const bool touch =
        h.opcode != kGet && h.opcode != kGetQ && h.opcode != kGetK && h.opcode != kGetKQ;
    if (ext != (touch ? 4u : 0u) || !has_key || has_value) return kInvalidArguments;
    keyed(Command::kMetaGet);
    if (h.opcode != kTouch) AddFlag(m, 'v');
    AddFlag(m, 'f');
    AddFlag(m, 'c');
    if (touch) {
      AddFlag(m, 'T');
      m.ttl = Load32(in.extras.data());
    }
  } else {
    switch (h.opcode) {
      case kSet:
      case kSetQ:
      case kAdd:
      case kAddQ:
      case kReplace:
      case kReplaceQ:
      case kAppend:
      case kAppendQ:
      case kPrepend:
      case kPrependQ: {
        const bool concat = h.opcode == kAppend || h.opcode == kAppendQ || h.opcode == kPrepend ||
                            h.opcode == kPrependQ;
        if (ext != (concat ? 0u : 8u) || !has_key) return kInvalidArguments;
        keyed(Command::kMetaSet);
        switch (h.opcode) {
          case kAdd:
          case kAddQ:
            m.mode = 'E';
            break;
          case kReplace:
          case kReplaceQ:
            m.mode = 'R';
            break;
          case kAppend:
          case kAppendQ:
            m.mode = 'A';
            break;
          case kPrepend:
          case kPrependQ:
            m.mode = 'P';
            break;
          default:
            m.mode = 'S';
            break;
        }
        AddFlag(m, 'M');
        AddFlag(m, 'c');
        if (!concat) {
          m.client_flags = Load32(in.extras.data());
          m.ttl = Load32(in.extras.data() + 4);
          AddFlag(m, 'F');
          AddFlag(m, 'T');
        }
        if (h.cas != 0) {
          AddFlag(m, 'C');
          m.compare_cas = h.cas;
        }
        out.data = in.value;
        out.bytes = static_cast<uint32_t>(in.value.size());
        break;
      }
      case kDelete:
      case kDeleteQ:
        if (ext != 0 || !has_key || has_value) return kInvalidArguments;
        keyed(Command::kMetaDelete);
        if (h.cas != 0) {
          AddFlag(m, 'C');
          m.compare_cas = h.cas;
        }
        break;
      case kIncrement:
      case kIncrementQ:
      case kDecrement:
      case kDecrementQ: {
        if (ext != 20 || !has_key || has_value) return kInvalidArguments;
        keyed(Command::kMetaArithmetic);
        const bool incr = h.opcode == kIncrement || h.opcode == kIncrementQ;
        m.mode = incr ? 'I' : 'D';
        AddFlag(m, 'M');
        AddFlag(m, 'v');
        AddFlag(m, 'c');
        AddFlag(m, 'D');
        m.delta = Load64(in.extras.data());
        AddFlag(m, 'J');
        m.initial = Load64(in.extras.data() + 8);
        const uint32_t exptime = Load32(in.extras.data() + 16);
        if (exptime != 0xffffffffu) {  // memcached: all ones = do not create on a miss
          AddFlag(m, 'N');
          m.vivify_ttl = exptime;
        }
        m.compare_cas = h.cas;  // memcached compares only a non-zero cas
        break;
      }
      case kQuit:
      case kQuitQ:
      case kNoop:
      case kVersion:
        if (ext != 0 || has_key || has_value) return kInvalidArguments;
        out.cmd = h.opcode == kNoop      ? Command::kMetaNoop
                  : h.opcode == kVersion ? Command::kVersion
                                         : Command::kQuit;
        break;
      case kFlush:
      case kFlushQ:
        if ((ext != 0 && ext != 4) || has_key || has_value) return kInvalidArguments;
        out.cmd = Command::kFlushAll;
        if (ext == 4) {
          out.has_delay = true;
          out.delay = Load32(in.extras.data());
        }
        break;
      case kVerbosity:
        if (ext != 4 || has_key || has_value) return kInvalidArguments;
        out.cmd = Command::kVerbosity;
        out.verbosity = Load32(in.extras.data());
        break;
      case kStat:
        if (ext != 0 || has_value) return kInvalidArguments;
        out.cmd = Command::kStats;
        out.stats_arg = in.key;
        break;
      default:
        return kUnknownCommand;
    }
  }
  return kSuccess;
}

bool Suppressed(uint8_t opcode, uint16_t status) {
  if (!IsQuiet(opcode)) return false;
  if (opcode == kGetQ || opcode == kGetKQ || opcode == kGatQ || opcode == kGatKQ) {
    return status == kKeyNotFound;
  }
  return status == kSuccess;
}

void AppendResponse(std::string& out, uint8_t opcode, uint16_t status, uint32_t opaque,
                    uint64_t cas, std::string_view extras, std::string_view key,
                    std::string_view value) {
  out.push_back(static_cast<char>(kResponseMagic));
  out.push_back(static_cast<char>(opcode));
  Put16(out, static_cast<uint16_t>(key.size()));
  out.push_back(static_cast<char>(extras.size()));
  out.push_back(0);  // data type: raw bytes
  Put16(out, status);
  Put32(out, static_cast<uint32_t>(extras.size() + key.size() + value.size()));
  out.append(reinterpret_cast<const char*>(&opaque), 4);  // kept in wire order
  Put64(out, cas);
  out.append(extras);
  out.append(key);
  out.append(value);
}

void AppendError(std::string& out, uint8_t opcode, uint16_t status, uint32_t opaque) {
  AppendResponse(out, opcode, status, opaque, 0, {}, {}, Message(status));
}

void Compose(const Response& reply, const MetaRequest& ctx, std::string& out) {
  std::visit(
      [&](const auto& r) {
        using T = std::decay_t<decltype(r)>;
        if constexpr (std::is_same_v<T, MetaReply>) {
          ComposeMeta(r, r.request != nullptr ? *r.request : ctx, out);
        } else if constexpr (std::is_same_v<T, LineReply>) {
          ComposeLine(r.text, ctx, out);
        } else {
          // The binary requests become meta and admin commands only: no other reply is made.
          AppendError(out, ctx.bin_opcode, 0x0084, ctx.bin_opaque);
        }
      },
      reply);
}

}  // namespace ssdcache::protocol::binary
