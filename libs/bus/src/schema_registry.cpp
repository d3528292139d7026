#include "schema_registry.hpp"

#include <nats/nats.h>

#include <boost/asio/post.hpp>

#include <keel/core/log.hpp>
#include <keel/telemetry/metrics.hpp>

#include "state.hpp"

namespace keel::bus {

namespace {

constexpr const char* kTopicHeader = "Keel-Schema-Topic";  // for people reading the stream
constexpr std::chrono::seconds kLogEvery{60};              // per fingerprint

telemetry::Counter& RefusedCounter(const std::string& consumer) {
    return telemetry::DefaultRegistry().GetCounter(
        "keel_bus_consumed_total", "Deliveries handled, by outcome",
        {{"consumer", consumer}, {"outcome", "unknown_schema"}});
}

}  // namespace

std::string SchemaSubject(std::string_view fingerprint) {
    return "keel.schemas." + std::string(fingerprint);
}

StreamSpec SchemaStreamSpec(int replicas) {
    StreamSpec s;
    s.name = kSchemaStream;
    s.subjects = {"keel.schemas.>"};
    s.max_age = std::chrono::seconds(0);  // unlimited
    s.max_bytes = 64LL << 20;
    s.max_msgs_per_subject = 1;
    s.duplicates = std::chrono::seconds(120);
    s.replicas = replicas;
    return s;
}

void PublishSchemas(Nats& nats, const Codec& codec, const std::vector<std::string>& topics) {
    for (const auto& topic : topics) {
        auto msg = NewMsg(SchemaSubject(codec.Fingerprint(topic)), codec.SchemaJson(topic));
        SetHeader(msg.get(), kTopicHeader, topic);
        nats.Publish(msg.get());
    }
}

std::optional<std::string> FetchSchema(Nats& nats, std::string_view fingerprint) {
    natsMsg* msg = nullptr;
    jsErrCode jerr = static_cast<jsErrCode>(0);
    const std::string subject = SchemaSubject(fingerprint);
    const natsStatus s =
        js_GetLastMsg(&msg, nats.Js(), kSchemaStream, subject.c_str(), nullptr, &jerr);
    if (s == NATS_NOT_FOUND || jerr == JSNoMessageFoundErr || jerr == JSStreamNotFoundErr)
        return std::nullopt;
    if (s != NATS_OK)
        throw NatsError("schema registry lookup of " + subject + ": " + natsStatus_GetText(s));
    MsgPtr owned(msg);
    return std::string(DataOf(msg));
}

SchemaLookup::SchemaLookup(const Codec& codec, std::shared_ptr<Nats> nats,
                           asio::thread_pool::executor_type blocking)
    : codec_(codec), nats_(std::move(nats)), blocking_(std::move(blocking)) {}

std::string SchemaLookup::Missing(const std::string& consumer, const std::string& topic,
                                  const std::string& fingerprint) {
    RefusedCounter(consumer).Inc();
    const auto now = std::chrono::steady_clock::now();
    std::unique_lock lock(mutex_);
    auto it = unknown_.find(fingerprint);
    if (it == unknown_.end()) {
        it = unknown_.emplace(fingerprint, Unknown{}).first;
        it->second.first_seen = now;
    }
    auto& u = it->second;
    const std::string why = u.why;
    const bool overdue = now - u.first_seen >= kGrace;
    const bool log = now - u.last_log >= kLogEvery;
    if (log) u.last_log = now;
    const bool newly_overdue = overdue && !u.overdue;
    u.overdue = overdue;
    const bool look = !u.looking && !u.unresolvable && now - u.last_lookup >= kRetryLookup;
    if (look) {
        u.looking = true;
        u.last_lookup = now;
    }
    lock.unlock();
    if (newly_overdue) UpdateOverdueGauge();
    if (log) {
        const auto level = overdue ? log::Level::kError : log::Level::kWarn;
        const char* message =
            overdue ? "events written with an unknown schema for over 10 minutes; they are "
                      "retried, not dropped: start the producer that registers it, or deploy a "
                      "consumer that reads it"
                    : "event written with an unknown schema; retrying while it is looked up";
        log::Write(level, message,
                   {{"consumer", consumer},
                    {"topic", topic},
                    {"fingerprint", fingerprint},
                    {"reason", why}});
    }
    if (look) {
        asio::post(blocking_,
                   [self = shared_from_this(), fingerprint] { self->LookUpNow(fingerprint); });
    }
    return why;
}

bool SchemaLookup::LookUpNow(const std::string& fingerprint) {
    std::string why;
    bool known = false;
    bool unresolvable = false;
    try {
        const auto text = FetchSchema(*nats_, fingerprint);
        if (!text) {
            why = "not in the schema registry";
        } else if (const auto actual = FingerprintOf(*text); actual != fingerprint) {
            why = "the registry's text has fingerprint " + actual;  // corrupt or forged
        } else {
            try {
                codec_.Learn(*text);
                known = true;
            } catch (const SchemaError& e) {
                why = e.what();
                unresolvable = true;
            }
        }
    } catch (const std::exception& e) {
        why = std::string("registry lookup failed: ") + e.what();
    }
    {
        std::lock_guard lock(mutex_);
        if (known) {
            unknown_.erase(fingerprint);
        } else {
            auto& u = unknown_[fingerprint];
            u.looking = false;
            u.why = why;
            u.unresolvable = unresolvable;
        }
    }
    if (known) {
        UpdateOverdueGauge();
        log::Info("learned a writer schema from the registry", {{"fingerprint", fingerprint}});
    } else if (unresolvable) {
        log::Error("registered schema does not resolve into this consumer's; its events wait",
                   {{"fingerprint", fingerprint}, {"reason", why}});
    }
    return known;
}

void SchemaLookup::UpdateOverdueGauge() {
    std::int64_t overdue = 0;
    {
        std::lock_guard lock(mutex_);
        for (const auto& kv : unknown_) overdue += kv.second.overdue ? 1 : 0;
    }
    telemetry::DefaultRegistry()
        .GetGauge("keel_bus_unknown_schemas",
                  "Writer schemas whose events have waited longer than 10 minutes")
        .Set(overdue);
}

std::string ReportUnknownSchema(const Subscription& sub, const std::string& topic,
                                const std::string& fingerprint) {
    if (sub.schemas == nullptr) return "no schema registry (not connected)";
    return sub.schemas->Missing(sub.durable, topic, fingerprint);
}

}  // namespace keel::bus
