#pragma once
#include <cstdint>
#include <memory>

#include <keel/telegram/client.hpp>

#include "relay.hpp"

namespace keel::alert_relay {

/// The relay's SendFn over the shared Telegram client: sendMessage to the ops chat
/// `chat_id`, parse_mode HTML, in the message's thread.
SendFn OpsChatSender(std::shared_ptr<telegram::Client> client, std::int64_t chat_id);

}  // namespace keel::alert_relay
