#include <keel/bus/nats.hpp>

#include <nats/nats.h>

#include <cstdlib>
#include <thread>

#include <keel/core/log.hpp>

namespace keel::bus {

namespace {

[[noreturn]] void Fail(const std::string& what, natsStatus s,
                       jsErrCode jerr = static_cast<jsErrCode>(0)) {
    std::string detail = what + ": " + natsStatus_GetText(s);
    if (jerr != 0) detail += " (JetStream error " + std::to_string(static_cast<int>(jerr)) + ")";
    const char* last = nats_GetLastError(nullptr);
    if (last != nullptr && *last != '\0') detail += ": " + std::string(last);
    throw NatsError(detail);
}

std::int64_t Nanos(std::chrono::nanoseconds d) { return d.count(); }

}  // namespace

void MsgDeleter::operator()(natsMsg* msg) const { natsMsg_Destroy(msg); }

std::shared_ptr<Nats> Nats::Connect(const Options& options) {
    if (options.urls.empty()) throw NatsError("no NATS server URL given");
    natsOptions* opts = nullptr;
    if (natsOptions_Create(&opts) != NATS_OK) throw NatsError("natsOptions_Create failed");
    std::vector<const char*> servers;
    servers.reserve(options.urls.size());
    for (const auto& url : options.urls) servers.push_back(url.c_str());
    natsOptions_SetServers(opts, servers.data(), static_cast<int>(servers.size()));
    natsOptions_SetName(opts, options.name.c_str());
    // Credentials in the CONNECT message (never on a command line): the service's own
    // (BusSettings), else the environment's: NATS_USER/NATS_PASSWORD, or the operator's
    // NATS_OPERATOR_PASSWORD (user NATS_OPERATOR_USER, default keel-bus) for keel-bus.
    std::string user = options.user;
    std::string password = options.password;
    const auto env = [](const char* name) -> std::string {
        const char* value = std::getenv(name);
        return value != nullptr ? value : "";
    };
    if (user.empty() && !env("NATS_USER").empty()) {
        user = env("NATS_USER");
        password = env("NATS_PASSWORD");
    } else if (user.empty() && !env("NATS_OPERATOR_PASSWORD").empty()) {
        user = env("NATS_OPERATOR_USER").empty() ? "keel-bus" : env("NATS_OPERATOR_USER");
        password = env("NATS_OPERATOR_PASSWORD");
    }
    if (!user.empty() && natsOptions_SetUserInfo(opts, user.c_str(), password.c_str()) != NATS_OK) {
        natsOptions_Destroy(opts);
        throw NatsError("natsOptions_SetUserInfo failed");
    }
    natsOptions_SetTimeout(opts, 2000);
    // Once connected, never give up (the default stops after 60 tries).
    natsOptions_SetMaxReconnect(opts, -1);
    natsOptions_SetReconnectWait(opts, 250);
    natsOptions_SetReconnectJitter(opts, 100, 1000);
    natsOptions_SetReconnectBufSize(opts, 32 * 1024 * 1024);

    std::shared_ptr<Nats> nats(new Nats());
    const auto deadline = std::chrono::steady_clock::now() + options.connect_timeout;
    natsStatus s = NATS_OK;
    for (;;) {
        s = natsConnection_Connect(&nats->connection_, opts);
        if (s == NATS_OK || std::chrono::steady_clock::now() >= deadline) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(250));
    }
    natsOptions_Destroy(opts);
    if (s != NATS_OK) Fail("cannot connect to NATS", s);
    jsOptions js_options;
    jsOptions_Init(&js_options);
    js_options.Wait = 10'000;  // ms for JetStream API answers and publish acks
    s = natsConnection_JetStream(&nats->js_, nats->connection_, &js_options);
    if (s != NATS_OK) Fail("JetStream context", s);
    return nats;
}

Nats::~Nats() {
    if (js_ != nullptr) jsCtx_Destroy(js_);
    if (connection_ != nullptr) {
        natsConnection_FlushTimeout(connection_, 1000);
        natsConnection_Destroy(connection_);
    }
}

bool Nats::Connected() const {
    return natsConnection_Status(connection_) == NATS_CONN_STATUS_CONNECTED;
}

void Nats::EnsureStream(const StreamSpec& spec) {
    jsStreamConfig cfg;
    jsStreamConfig_Init(&cfg);
    std::vector<const char*> subjects;
    subjects.reserve(spec.subjects.size());
    for (const auto& s : spec.subjects) subjects.push_back(s.c_str());
    cfg.Name = spec.name.c_str();
    cfg.Subjects = subjects.data();
    cfg.SubjectsLen = static_cast<int>(subjects.size());
    cfg.Storage = js_FileStorage;
    cfg.Retention = js_LimitsPolicy;
    cfg.Discard = js_DiscardOld;
    cfg.MaxAge = Nanos(spec.max_age);
    cfg.MaxBytes = spec.max_bytes;
    cfg.MaxMsgsPerSubject = spec.max_msgs_per_subject;
    cfg.Duplicates = Nanos(spec.duplicates);
    cfg.Replicas = spec.replicas;
    jsStreamInfo* info = nullptr;
    jsErrCode jerr = static_cast<jsErrCode>(0);
    natsStatus s = js_AddStream(&info, js_, &cfg, nullptr, &jerr);
    if (s != NATS_OK && jerr == JSStreamNameExistErr) {
        jerr = static_cast<jsErrCode>(0);
        s = js_UpdateStream(&info, js_, &cfg, nullptr, &jerr);
    }
    if (info != nullptr) jsStreamInfo_Destroy(info);
    if (s != NATS_OK) Fail("stream " + spec.name, s, jerr);
}

void Nats::EnsureConsumer(const std::string& stream, const ConsumerSpec& spec) {
    jsConsumerConfig cfg;
    jsConsumerConfig_Init(&cfg);
    cfg.Durable = spec.durable.c_str();
    cfg.FilterSubject = spec.filter_subject.empty() ? nullptr : spec.filter_subject.c_str();
    cfg.AckPolicy = js_AckExplicit;
    cfg.AckWait = Nanos(spec.ack_wait);
    // A few more than the handler's tries: the handler dead-letters on its last try, and a
    // failed dead-letter publish still gets another delivery.
    cfg.MaxDeliver = spec.max_deliver + 3;
    if (spec.max_deliver < 0) cfg.MaxDeliver = -1;  // unlimited (the bus's consumers)
    cfg.MaxAckPending = spec.max_ack_pending;
    cfg.InactiveThreshold = Nanos(spec.inactive_threshold);
    cfg.Replicas = spec.replicas;
    if (spec.start_sequence > 0) {
        cfg.DeliverPolicy = js_DeliverByStartSequence;
        cfg.OptStartSeq = spec.start_sequence;
    } else if (spec.start_time_ns > 0) {
        cfg.DeliverPolicy = js_DeliverByStartTime;
        cfg.OptStartTime = spec.start_time_ns;
    } else {
        cfg.DeliverPolicy = js_DeliverAll;
    }
    jsConsumerInfo* info = nullptr;
    jsErrCode jerr = static_cast<jsErrCode>(0);
    natsStatus s = js_AddConsumer(&info, js_, stream.c_str(), &cfg, nullptr, &jerr);
    if (s != NATS_OK && (jerr == JSConsumerNameExistErr || jerr == JSConsumerExistingActiveErr ||
                         jerr == JSConsumerCreateErr)) {
        // Exists with other settings: keep its position, update what may change.
        jsConsumerInfo_Destroy(info);
        info = nullptr;
        jerr = static_cast<jsErrCode>(0);
        s = js_GetConsumerInfo(&info, js_, stream.c_str(), spec.durable.c_str(), nullptr, &jerr);
        if (s == NATS_OK) {
            cfg.DeliverPolicy = info->Config->DeliverPolicy;
            cfg.OptStartSeq = info->Config->OptStartSeq;
            cfg.OptStartTime = info->Config->OptStartTime;
            jsConsumerInfo_Destroy(info);
            info = nullptr;
            s = js_UpdateConsumer(&info, js_, stream.c_str(), &cfg, nullptr, &jerr);
            if (s != NATS_OK) {
                log::Warn("consumer settings not updated; keeping the existing consumer",
                          {{"consumer", spec.durable}, {"error", natsStatus_GetText(s)}});
                s = NATS_OK;
            }
        }
    }
    if (info != nullptr) jsConsumerInfo_Destroy(info);
    if (s != NATS_OK) Fail("consumer " + spec.durable, s, jerr);
}

void Nats::DeleteConsumer(const std::string& stream, const std::string& durable) {
    jsErrCode jerr = static_cast<jsErrCode>(0);
    const natsStatus s = js_DeleteConsumer(js_, stream.c_str(), durable.c_str(), nullptr, &jerr);
    if (s != NATS_OK && jerr != JSConsumerNotFoundErr) Fail("delete consumer " + durable, s, jerr);
}

std::uint64_t Nats::Publish(natsMsg* msg, const std::string& msg_id) {
    jsPubOptions po;
    jsPubOptions_Init(&po);
    if (!msg_id.empty()) po.MsgId = msg_id.c_str();
    jsPubAck* ack = nullptr;
    jsErrCode jerr = static_cast<jsErrCode>(0);
    const natsStatus s = js_PublishMsg(&ack, js_, msg, &po, &jerr);
    if (s != NATS_OK) Fail(std::string("publish to ") + natsMsg_GetSubject(msg), s, jerr);
    const std::uint64_t seq = ack->Sequence;
    jsPubAck_Destroy(ack);
    return seq;
}

void Nats::PublishNoWait(const std::string& subject, std::string_view data) {
    natsConnection_Publish(connection_, subject.c_str(), data.data(),
                           static_cast<int>(data.size()));
}

void Nats::Flush() { natsConnection_FlushTimeout(connection_, 2000); }

std::string Nats::ApiRequest(const std::string& subject, const std::string& body,
                             std::chrono::milliseconds timeout) {
    natsMsg* reply = nullptr;
    const std::string full = "$JS.API." + subject;
    const natsStatus s = natsConnection_Request(&reply, connection_, full.c_str(), body.data(),
                                                static_cast<int>(body.size()), timeout.count());
    if (s != NATS_OK) Fail("request " + full, s);
    MsgPtr owned(reply);
    return std::string(natsMsg_GetData(reply),
                       static_cast<std::size_t>(natsMsg_GetDataLength(reply)));
}

std::vector<std::string> SplitUrlList(std::string_view text) {
    std::vector<std::string> out;
    std::size_t start = 0;
    while (start <= text.size()) {
        const auto end = std::min(text.find(',', start), text.size());
        auto url = text.substr(start, end - start);
        while (!url.empty() && url.front() == ' ') url.remove_prefix(1);
        while (!url.empty() && url.back() == ' ') url.remove_suffix(1);
        if (!url.empty()) out.emplace_back(url);
        start = end + 1;
    }
    return out;
}

std::string StreamOf(std::string_view topic) {
    std::string domain(topic.substr(0, topic.find('.')));
    for (auto& c : domain)
        c = static_cast<char>(c >= 'a' && c <= 'z' ? c - 'a' + 'A' : (c == '-' ? '_' : c));
    return domain;
}

std::string DurableOf(std::string_view service, std::string_view topic) {
    std::string out(service);
    out += '-';
    for (const char c : topic) out += c == '.' ? '_' : c;
    return out;
}

MsgPtr NewMsg(const std::string& subject, std::string_view data) {
    natsMsg* msg = nullptr;
    const natsStatus s =
        natsMsg_Create(&msg, subject.c_str(), nullptr, data.data(), static_cast<int>(data.size()));
    if (s != NATS_OK) Fail("message for " + subject, s);
    return MsgPtr(msg);
}

void SetHeader(natsMsg* msg, const char* key, const std::string& value) {
    if (natsMsgHeader_Set(msg, key, value.c_str()) != NATS_OK)
        throw NatsError(std::string("cannot set header ") + key);
}

std::string GetHeader(natsMsg* msg, const char* key) {
    const char* value = nullptr;
    if (natsMsgHeader_Get(msg, key, &value) != NATS_OK || value == nullptr) return "";
    return value;
}

std::map<std::string, std::string> HeadersOf(natsMsg* msg) {
    std::map<std::string, std::string> out;
    const char** keys = nullptr;
    int count = 0;
    if (natsMsgHeader_Keys(msg, &keys, &count) != NATS_OK) return out;
    for (int i = 0; i < count; ++i) {
        const char* value = nullptr;
        if (natsMsgHeader_Get(msg, keys[i], &value) == NATS_OK && value != nullptr)
            out.emplace(keys[i], value);
    }
    std::free(static_cast<void*>(keys));  // the array is ours, the strings the message's
    return out;
}

std::string_view SubjectOf(natsMsg* msg) { return natsMsg_GetSubject(msg); }

std::string_view DataOf(natsMsg* msg) {
    return {natsMsg_GetData(msg), static_cast<std::size_t>(natsMsg_GetDataLength(msg))};
}

std::optional<MsgMetadata> MetadataOf(natsMsg* msg) {
    jsMsgMetaData* meta = nullptr;
    if (natsMsg_GetMetaData(&meta, msg) != NATS_OK) return std::nullopt;
    MsgMetadata out;
    out.stream_sequence = meta->Sequence.Stream;
    out.deliveries = meta->NumDelivered;
    out.time_ns = meta->Timestamp;
    out.pending = meta->NumPending;
    jsMsgMetaData_Destroy(meta);
    return out;
}

}  // namespace keel::bus
