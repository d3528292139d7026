#include "resp.hpp"

#include <hiredis/hiredis.h>

#include <stdexcept>

namespace keel::redis::detail {

Reply Convert(const redisReply* raw) {
    Reply reply;
    switch (raw->type) {
        case REDIS_REPLY_INTEGER:
            reply.type = Reply::Type::kInteger;
            reply.integer = raw->integer;
            break;
        case REDIS_REPLY_STRING:
            reply.type = Reply::Type::kString;
            reply.text.assign(raw->str, raw->len);
            break;
        case REDIS_REPLY_STATUS:
            reply.type = Reply::Type::kStatus;
            reply.text.assign(raw->str, raw->len);
            break;
        case REDIS_REPLY_ERROR:
            reply.type = Reply::Type::kError;
            reply.text.assign(raw->str, raw->len);
            break;
        case REDIS_REPLY_ARRAY:
            reply.type = Reply::Type::kArray;
            for (std::size_t i = 0; i < raw->elements; ++i)
                reply.elements.push_back(Convert(raw->element[i]));
            break;
        default:
            reply.type = Reply::Type::kNil;
    }
    return reply;
}

std::string Frame(const std::vector<std::string>& args) {
    std::vector<const char*> argv;
    std::vector<std::size_t> lengths;
    for (const auto& a : args) {
        argv.push_back(a.data());
        lengths.push_back(a.size());
    }
    char* command = nullptr;
    const long long length = redisFormatCommandArgv(&command, static_cast<int>(argv.size()),
                                                    argv.data(), lengths.data());
    if (length < 0) throw std::runtime_error("redis: cannot frame command");
    std::string framed(command, static_cast<std::size_t>(length));
    redisFreeCommand(command);
    return framed;
}

}  // namespace keel::redis::detail
