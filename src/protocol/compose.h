// Turns responses (protocol/response.h) into the bytes memcached 1.6 sends, appended to a string
// whose capacity the caller reuses (no allocation once it is warm). Pure: no socket, no storage.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "protocol/response.h"

namespace ssdcache::protocol {

// Appends the reply's text to `out`.
void Compose(const Response& reply, std::string& out);

void AppendUint(std::string& out, uint64_t v);
void AppendInt(std::string& out, int64_t v);
// Standard base64 with padding (memcached re-encodes a binary key this way).
void AppendBase64(std::string& out, std::string_view in);

}  // namespace ssdcache::protocol
