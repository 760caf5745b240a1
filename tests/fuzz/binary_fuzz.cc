// libFuzzer target for the binary protocol's parser (protocol/binary.h), driven as
// server/connection.cc drives it: bytes arrive in chunks, unconsumed bytes stay buffered, a
// kTooLarge body is swallowed, kInvalid ends the connection.
//
// Input: one control byte (seed of the chunk lengths; 0: the stream arrives in one piece), then
// the byte stream a client sends.
// Checked on every call: consumed <= input; kNeedMore consumes nothing; a kOk request's extras, key
// and value lie inside the consumed bytes and add up to its body; ToRequest and the composition of
// a reply to it do not fail. Checked per input: the requests (opcode, status of ToRequest, key,
// value) are the same whether the stream arrives in one piece or split.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "protocol/binary.h"

namespace {

namespace bin = ssdcache::protocol::binary;

#define FUZZ_CHECK(cond)                                                                          \
  do {                                                                                            \
    if (!(cond)) {                                                                                \
      std::fprintf(stderr, "binary_fuzz: check failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__); \
      std::abort();                                                                               \
    }                                                                                             \
  } while (0)

constexpr uint32_t kMaxBody = 4096;

// Feeds `stream` in chunks chosen by `seed`; returns what a client would observe.
std::string Run(std::string_view stream, uint8_t seed) {
  std::string log;
  std::string buffer;
  uint64_t swallow = 0;
  uint32_t state = seed;
  size_t pos = 0;
  bin::BinaryRequest req;
  ssdcache::protocol::Request out;
  std::string reply;
  while (pos < stream.size()) {
    size_t n = stream.size() - pos;
    if (seed != 0) {
      state = state * 1103515245u + 12345u;
      n = std::min<size_t>(n, 1 + (state >> 16) % 64);
    }
    buffer.append(stream.substr(pos, n));
    pos += n;
    for (;;) {
      if (swallow > 0) {
        const size_t drop = std::min<uint64_t>(swallow, buffer.size());
        buffer.erase(0, drop);
        swallow -= drop;
        if (swallow > 0) break;
      }
      const bin::BinaryOutcome o = bin::ParseBinary(buffer, kMaxBody, req);
      FUZZ_CHECK(o.consumed <= buffer.size());
      if (o.status == bin::BinaryStatus::kNeedMore) {
        FUZZ_CHECK(o.consumed == 0);
        break;
      }
      if (o.status == bin::BinaryStatus::kInvalid) return log + "<closed>";
      if (o.status == bin::BinaryStatus::kTooLarge) {
        log += "<too large>";
        swallow = req.header.body_length;
        buffer.erase(0, o.consumed);
        continue;
      }
      const std::string_view consumed(buffer.data(), o.consumed);
      for (std::string_view part : {req.extras, req.key, req.value}) {
        FUZZ_CHECK(part.empty() || (part.data() >= consumed.data() &&
                                    part.data() + part.size() <= consumed.data() + o.consumed));
      }
      FUZZ_CHECK(bin::kHeaderSize + req.extras.size() + req.key.size() + req.value.size() ==
                 o.consumed);
      const bin::Status s = bin::ToRequest(req, 250, out);
      reply.clear();
      bin::Compose(ssdcache::protocol::LineReply{"OK\r\n"}, out.meta, reply);
      log += "[" + std::to_string(req.header.opcode) + " " + std::to_string(s) + " " +
             std::string(req.key) + " " + std::string(req.value) + "]";
      buffer.erase(0, o.consumed);
    }
  }
  return log;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const std::string_view stream(reinterpret_cast<const char*>(data) + 1, size - 1);
  FUZZ_CHECK(Run(stream, data[0]) == Run(stream, 0));
  return 0;
}
