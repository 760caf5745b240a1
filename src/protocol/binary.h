// The memcached binary protocol (memcached 1.6's protocol_binary.h and its docs): an incremental
// parser of requests, their translation into the Request the command layer serves, and the
// composition of responses. Pure: no socket, no storage.
//
// Invariants:
//  - ParseBinary never reads outside `input` and never trusts a length from the wire: the body
//    length is checked against the limit before the parser waits for that many bytes, and the
//    extras and key lengths against the body length.
//  - kOk only once the whole body is in `input`; views in BinaryRequest point into `input`.
//  - No state between calls: the same bytes split anywhere give the same requests.
//  - A request's opcode and opaque travel in Request::meta (bin_opcode, bin_opaque, binary), so a
//    reply composed later (a device read's pending slot keeps a copy of the MetaRequest) is still
//    composed as a binary reply of the right request.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "protocol/request.h"
#include "protocol/response.h"

namespace ssdcache::protocol::binary {

constexpr uint8_t kRequestMagic = 0x80;
constexpr uint8_t kResponseMagic = 0x81;
constexpr size_t kHeaderSize = 24;

enum Opcode : uint8_t {
  kGet = 0x00,
  kSet = 0x01,
  kAdd = 0x02,
  kReplace = 0x03,
  kDelete = 0x04,
  kIncrement = 0x05,
  kDecrement = 0x06,
  kQuit = 0x07,
  kFlush = 0x08,
  kGetQ = 0x09,
  kNoop = 0x0a,
  kVersion = 0x0b,
  kGetK = 0x0c,
  kGetKQ = 0x0d,
  kAppend = 0x0e,
  kPrepend = 0x0f,
  kStat = 0x10,
  kSetQ = 0x11,
  kAddQ = 0x12,
  kReplaceQ = 0x13,
  kDeleteQ = 0x14,
  kIncrementQ = 0x15,
  kDecrementQ = 0x16,
  kQuitQ = 0x17,
  kFlushQ = 0x18,
  kAppendQ = 0x19,
  kPrependQ = 0x1a,
  kVerbosity = 0x1b,
  kTouch = 0x1c,
  kGat = 0x1d,
  kGatQ = 0x1e,
  kGatK = 0x23,
  kGatKQ = 0x24,
};

enum Status : uint16_t {
  kSuccess = 0x0000,
  kKeyNotFound = 0x0001,
  kKeyExists = 0x0002,
  kTooLarge = 0x0003,
  kInvalidArguments = 0x0004,
  kNotStored = 0x0005,
  kNonNumeric = 0x0006,
  kAuthError = 0x0020,  // also memcached's answer to a flush under -F
  kUnknownCommand = 0x0081,
  kOutOfMemory = 0x0082,
};

struct Header {
  uint8_t magic = 0;
  uint8_t opcode = 0;
  uint16_t key_length = 0;
  uint8_t extras_length = 0;
  uint8_t data_type = 0;
  uint16_t vbucket = 0;  // the status, in a response
  uint32_t body_length = 0;
  uint32_t opaque = 0;  // echoed as is (kept in wire order)
  uint64_t cas = 0;
};

struct BinaryRequest {
  Header header;
  std::string_view extras;
  std::string_view key;
  std::string_view value;
};

enum class BinaryStatus : uint8_t {
  kOk,        // `req` holds one request of `consumed` bytes
  kNeedMore,  // nothing consumed
  kTooLarge,  // a valid header whose body exceeds the limit: answer, consume the header, then
              // swallow header.body_length bytes (memcached answers "Too large" and swallows)
  kInvalid,   // not a binary request (bad magic, lengths that do not add up): close
};

struct BinaryOutcome {
  BinaryStatus status = BinaryStatus::kNeedMore;
  size_t consumed = 0;
};

// Parses at most one request from the front of `input`. A body longer than `max_body` is
// kTooLarge; one longer than kMaxBody (no store could take it) is kInvalid.
constexpr uint32_t kMaxBody = 64u << 20;
BinaryOutcome ParseBinary(std::string_view input, uint32_t max_body, BinaryRequest& req);

// The Request the command layer serves for `in`, or the status to answer it with instead
// (kInvalidArguments: wrong extras/key/value for the opcode; kUnknownCommand). On kSuccess the
// request's views point into `in`'s. `max_key` is the longest key accepted.
Status ToRequest(const BinaryRequest& in, size_t max_key, Request& out);

// Whether a quiet request's reply with `status` is left out (memcached: a quiet get's miss, a
// quiet mutation's success).
bool Suppressed(uint8_t opcode, uint16_t status);

// Appends a response header + body to `out`.
void AppendResponse(std::string& out, uint8_t opcode, uint16_t status, uint32_t opaque,
                    uint64_t cas, std::string_view extras, std::string_view key,
                    std::string_view value);
// Appends an error response, its body the message memcached sends for `status`.
void AppendError(std::string& out, uint8_t opcode, uint16_t status, uint32_t opaque);

// Composes `reply` (from the command layer or the connection) as the binary reply of the request
// `ctx` describes (ctx.binary is true): nothing when the opcode's quiet rule suppresses it.
void Compose(const Response& reply, const MetaRequest& ctx, std::string& out);

}  // namespace ssdcache::protocol::binary
