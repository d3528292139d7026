#pragma once
// hiredis' framing and parsing, shared by Client and Subscriber (private to the library).
#include <string>
#include <vector>

#include <keel/redis/client.hpp>

struct redisReply;

namespace keel::redis::detail {

Reply Convert(const redisReply* raw);
/// One command in RESP: the bytes to write.
std::string Frame(const std::vector<std::string>& args);

}  // namespace keel::redis::detail
