#include <keel/redis/subscriber.hpp>

#include <hiredis/hiredis.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>

#include <array>
#include <optional>
#include <stdexcept>

#include <keel/core/log.hpp>

#include "resp.hpp"

namespace keel::redis {
namespace {

using tcp = asio::ip::tcp;
using namespace boost::asio::experimental::awaitable_operators;

enum class ReadOutcome { kData, kTimeout, kError };

// A failure of the session: logged, then the loop reconnects.
class SessionError final : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

}  // namespace

struct Subscriber::State {
    explicit State(const asio::any_io_executor& executor)
        : strand(asio::make_strand(executor)), socket(strand), timer(strand) {}
    ~State() {
        if (reader) redisReaderFree(reader);
    }

    // Everything below is touched only on the strand.
    asio::strand<asio::any_io_executor> strand;
    tcp::socket socket;
    asio::steady_timer timer;
    redisReader* reader = nullptr;
    bool stopped = false;
    std::array<char, std::size_t{16} * 1024> buffer{};

    void Reset() {
        boost::system::error_code ignored;
        socket.close(ignored);
        socket = tcp::socket(strand);
        if (reader) redisReaderFree(reader);
        reader = redisReaderCreate();
    }

    std::optional<Reply> TryReply() {
        void* raw = nullptr;
        if (redisReaderGetReply(reader, &raw) != REDIS_OK)
            throw SessionError("redis subscriber: protocol error");
        if (!raw) return std::nullopt;
        std::unique_ptr<redisReply, void (*)(void*)> reply(static_cast<redisReply*>(raw),
                                                           freeReplyObject);
        return detail::Convert(reply.get());
    }

    // Reads what has arrived into the reader, or gives up after `timeout`. Failures are
    // values: an exception crossing the || operator would not end the race.
    Task<ReadOutcome> ReadSome(std::chrono::milliseconds timeout) {
        timer.expires_after(timeout);
        boost::system::error_code read_ec;
        boost::system::error_code timer_ec;
        auto outcome =
            co_await (socket.async_read_some(asio::buffer(buffer),
                                             asio::redirect_error(asio::use_awaitable, read_ec)) ||
                      timer.async_wait(asio::redirect_error(asio::use_awaitable, timer_ec)));
        if (outcome.index() == 1) co_return ReadOutcome::kTimeout;
        if (read_ec) co_return ReadOutcome::kError;
        redisReaderFeed(reader, buffer.data(), std::get<0>(outcome));
        co_return ReadOutcome::kData;
    }

    Task<void> Send(const std::vector<std::string>& args) {
        const std::string framed = detail::Frame(args);
        boost::system::error_code ec;
        co_await asio::async_write(socket, asio::buffer(framed),
                                   asio::redirect_error(asio::use_awaitable, ec));
        if (ec) throw SessionError("redis subscriber write: " + ec.message());
    }

    // One answer to a setup command (before subscribe mode).
    Task<Reply> Call(std::vector<std::string> args, std::chrono::milliseconds timeout) {
        co_await Send(args);
        for (;;) {
            if (auto reply = TryReply()) {
                if (reply->type == Reply::Type::kError)
                    throw SessionError("redis subscriber " + args[0] + ": " + reply->text);
                co_return std::move(*reply);
            }
            const auto outcome = co_await ReadSome(timeout);
            if (stopped) throw SessionError("stopped");
            if (outcome != ReadOutcome::kData)
                throw SessionError("redis subscriber: no answer to " + args[0]);
        }
    }
};

std::shared_ptr<Subscriber> Subscriber::Start(asio::any_io_executor executor,
                                              SubscriberOptions options,
                                              SubscriberHandlers handlers) {
    auto subscriber =
        std::make_shared<Subscriber>(std::move(executor), std::move(options), std::move(handlers));
    auto loop = [subscriber]() -> Task<void> { co_await subscriber->Loop(); };
    asio::co_spawn(subscriber->state_->strand, std::move(loop), asio::detached);
    return subscriber;
}

Subscriber::Subscriber(asio::any_io_executor executor, SubscriberOptions options,
                       SubscriberHandlers handlers)
    : state_(std::make_unique<State>(executor)),
      options_(std::move(options)),
      handlers_(std::move(handlers)) {}

Subscriber::~Subscriber() = default;

void Subscriber::Stop() {
    asio::post(state_->strand, [self = shared_from_this()] {
        self->state_->stopped = true;
        boost::system::error_code ignored;
        self->state_->socket.close(ignored);
        self->state_->timer.cancel();
    });
}

Task<void> Subscriber::Loop() {
    auto& s = *state_;
    auto backoff = options_.reconnect_min;
    while (!s.stopped) {
        std::string failure;
        try {
            co_await Session();
        } catch (const std::exception& e) {
            failure = e.what();
        }
        const bool was_subscribed = subscribed_.exchange(false, std::memory_order_acq_rel);
        if (s.stopped) break;
        if (handlers_.on_lost) handlers_.on_lost();
        // A session that got as far as subscribing starts the backoff again.
        if (was_subscribed) backoff = options_.reconnect_min;
        log::Warn("redis subscription lost; reconnecting",
                  {{"error", failure}, {"retry_ms", static_cast<std::int64_t>(backoff.count())}});
        s.timer.expires_after(backoff);
        boost::system::error_code ignored;
        co_await s.timer.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
        backoff = std::min(backoff * 2, options_.reconnect_max);
    }
    s.Reset();
}

Task<void> Subscriber::Session() {
    auto& s = *state_;
    const auto timeout = options_.connection.timeout;
    s.Reset();
    tcp::resolver resolver(s.strand);
    auto endpoints = co_await resolver.async_resolve(
        options_.connection.host, std::to_string(options_.connection.port), asio::use_awaitable);
    s.timer.expires_after(timeout);
    boost::system::error_code connect_ec;
    boost::system::error_code timer_ec;
    auto connected =
        co_await (asio::async_connect(s.socket, endpoints,
                                      asio::redirect_error(asio::use_awaitable, connect_ec)) ||
                  s.timer.async_wait(asio::redirect_error(asio::use_awaitable, timer_ec)));
    if (s.stopped) co_return;
    if (connected.index() == 1) throw SessionError("redis subscriber connect: timed out");
    if (connect_ec) throw SessionError("redis subscriber connect: " + connect_ec.message());
    s.socket.set_option(tcp::no_delay(true));

    if (!options_.connection.password.empty()) {
        std::vector<std::string> auth{"AUTH", options_.connection.password};
        co_await s.Call(std::move(auth), timeout);
    }
    std::vector<std::string> subscribe{"SUBSCRIBE"};
    subscribe.insert(subscribe.end(), options_.channels.begin(), options_.channels.end());
    if (!options_.tracking_prefixes.empty()) {
        std::vector<std::string> id_args{"CLIENT", "ID"};
        const auto id = co_await s.Call(std::move(id_args), timeout);
        // Redirected to this very connection: invalidations then travel as ordinary
        // pub/sub messages, which RESP2 can carry.
        std::vector<std::string> tracking{
            "CLIENT", "TRACKING", "on", "REDIRECT", std::to_string(id.integer), "BCAST"};
        for (const auto& prefix : options_.tracking_prefixes) {
            tracking.emplace_back("PREFIX");
            tracking.push_back(prefix);
        }
        co_await s.Call(std::move(tracking), timeout);
        subscribe.emplace_back(kInvalidateChannel);
    }
    if (subscribe.size() == 1)
        throw std::invalid_argument("redis subscriber: nothing to subscribe");
    const std::size_t expected = subscribe.size() - 1;
    co_await s.Send(subscribe);

    std::size_t confirmed = 0;
    bool awaiting_pong = false;
    for (;;) {
        while (auto reply = s.TryReply()) {
            if (reply->type != Reply::Type::kArray || reply->elements.empty())
                throw SessionError("redis subscriber: unexpected reply " + reply->text);
            const auto& kind = reply->elements[0].text;
            if (kind == "message" && reply->elements.size() == 3) {
                if (handlers_.on_message)
                    handlers_.on_message(reply->elements[1].text, reply->elements[2]);
            } else if (kind == "subscribe") {
                if (++confirmed == expected) {
                    subscribed_.store(true, std::memory_order_release);
                    if (handlers_.on_subscribed) handlers_.on_subscribed();
                }
            }
            // "pong" (the answer to our PING in subscribe mode) only proves liveness.
        }
        const bool answer_due = awaiting_pong || confirmed < expected;
        const auto wait = answer_due ? timeout : options_.ping_interval;
        const auto outcome = co_await s.ReadSome(wait);
        if (s.stopped) co_return;
        if (outcome == ReadOutcome::kError) throw SessionError("redis subscriber: connection lost");
        if (outcome == ReadOutcome::kData) {
            awaiting_pong = false;
            continue;
        }
        if (answer_due) throw SessionError("redis subscriber: no answer from the server");
        std::vector<std::string> ping{"PING"};
        co_await s.Send(ping);
        awaiting_pong = true;
    }
}

}  // namespace keel::redis
