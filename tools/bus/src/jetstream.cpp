#include "jetstream.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "errors.hpp"

namespace keel::bus_tool {
namespace json = boost::json;

std::shared_ptr<bus::Nats> Connect(const std::string& servers) {
    bus::Nats::Options options;
    options.urls = bus::SplitUrlList(servers);
    if (options.urls.empty()) throw UsageError("--server: no NATS URL given");
    options.name = "keel-bus";
    options.connect_timeout = std::chrono::milliseconds(4000);
    try {
        return bus::Nats::Connect(options);
    } catch (const bus::NatsError& e) {
        throw ToolError(std::string(e.what()) + " (server " + servers +
                        "; set --server or NATS_URL)");
    }
}

json::object JetStream::Request(const std::string& api, const json::value& body) const {
    const std::string text = body.is_null() ? "" : json::serialize(body);
    std::string answer;
    try {
        answer = nats_->ApiRequest(api, text);
    } catch (const bus::NatsError& e) {
        throw ToolError(std::string("JetStream did not answer (is JetStream enabled?): ") +
                        e.what());
    }
    json::value parsed;
    try {
        parsed = json::parse(answer);
    } catch (const std::exception&) {
        throw ToolError("$JS.API." + api + ": answer is not JSON: " + answer.substr(0, 200));
    }
    if (!parsed.is_object()) throw ToolError("$JS.API." + api + ": answer is not a JSON object");
    auto& o = parsed.as_object();
    if (const auto* error = o.if_contains("error"); error != nullptr && error->is_object()) {
        const auto& e = error->as_object();
        throw ApiError("$JS.API." + api + ": " + Str(e, "description"),
                       static_cast<int>(Int(e, "code")), static_cast<int>(Int(e, "err_code")));
    }
    return std::move(o);
}

std::vector<std::string> JetStream::StreamNames() const {
    std::vector<std::string> names;
    for (;;) {
        json::object body{{"offset", names.size()}};
        const auto page = Request("STREAM.NAMES", body);
        const auto* streams = page.if_contains("streams");
        if (streams == nullptr || !streams->is_array() || streams->as_array().empty()) break;
        for (const auto& s : streams->as_array())
            if (s.is_string()) names.emplace_back(s.as_string());
        if (names.size() >= static_cast<std::size_t>(Int(page, "total"))) break;
    }
    return names;
}

std::optional<json::object> JetStream::StreamInfo(const std::string& stream,
                                                  const std::string& subjects_filter) const {
    json::value body = nullptr;
    if (!subjects_filter.empty()) body = json::object{{"subjects_filter", subjects_filter}};
    try {
        return Request("STREAM.INFO." + stream, body);
    } catch (const ApiError& e) {
        if (e.err_code == kStreamNotFound) return std::nullopt;
        throw;
    }
}

std::vector<json::object> JetStream::Consumers(const std::string& stream) const {
    std::vector<json::object> out;
    for (;;) {
        json::object body{{"offset", out.size()}};
        const auto page = Request("CONSUMER.LIST." + stream, body);
        const auto* consumers = page.if_contains("consumers");
        if (consumers == nullptr || !consumers->is_array() || consumers->as_array().empty()) break;
        for (const auto& c : consumers->as_array())
            if (c.is_object()) out.push_back(c.as_object());
        if (out.size() >= static_cast<std::size_t>(Int(page, "total"))) break;
    }
    return out;
}

std::optional<json::object> JetStream::ConsumerInfo(const std::string& stream,
                                                    const std::string& consumer) const {
    try {
        return Request("CONSUMER.INFO." + stream + "." + consumer);
    } catch (const ApiError& e) {
        if (e.err_code == kStreamNotFound || e.err_code == kConsumerNotFound) return std::nullopt;
        throw;
    }
}

void JetStream::DeleteConsumer(const std::string& stream, const std::string& consumer) const {
    Request("CONSUMER.DELETE." + stream + "." + consumer);
}

json::object JetStream::CreateDurable(const std::string& stream, const json::object& config) const {
    json::object body{{"stream_name", stream}, {"config", config}};
    return Request("CONSUMER.DURABLE.CREATE." + stream + "." + Str(config, "durable_name"), body);
}

std::uint64_t JetStream::CountFrom(const std::string& stream, const std::string& subject,
                                   std::uint64_t from) const {
    json::object config{{"deliver_policy", "by_start_sequence"},
                        {"opt_start_seq", from},
                        {"filter_subject", subject},
                        {"ack_policy", "none"},
                        {"mem_storage", true},
                        {"num_replicas", 1},
                        {"inactive_threshold", std::int64_t{10'000'000'000}}};
    json::object body{{"stream_name", stream}, {"config", config}};
    const auto info = Request("CONSUMER.CREATE." + stream, body);
    const auto pending = static_cast<std::uint64_t>(Int(info, "num_pending"));
    try {
        DeleteConsumer(stream, Str(info, "name"));
    } catch (const std::exception&) {
        // it goes away by itself after its inactive threshold
    }
    return pending;
}

void JetStream::DeleteMessage(const std::string& stream, std::uint64_t seq) const {
    json::object body{{"seq", seq}, {"no_erase", true}};
    Request("STREAM.MSG.DELETE." + stream, body);
}

std::int64_t Int(const json::object& o, std::string_view key) {
    const auto* v = o.if_contains(key);
    if (v == nullptr || !v->is_number()) return 0;
    return v->is_double() ? static_cast<std::int64_t>(v->get_double())
                          : v->to_number<std::int64_t>();
}

std::int64_t Int(const json::object& o, std::string_view key, std::string_view sub) {
    const auto* v = o.if_contains(key);
    return v != nullptr && v->is_object() ? Int(v->as_object(), sub) : 0;
}

std::string Str(const json::object& o, std::string_view key) {
    const auto* v = o.if_contains(key);
    return v != nullptr && v->is_string() ? std::string(v->as_string()) : std::string();
}

}  // namespace keel::bus_tool
