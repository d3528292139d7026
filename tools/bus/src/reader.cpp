#include "reader.hpp"

#include <nats/nats.h>

#include "errors.hpp"

namespace keel::bus_tool {

namespace {

constexpr jsErrCode kNoJsError = static_cast<jsErrCode>(0);

std::string Why(natsStatus s, jsErrCode jerr) {
    std::string why = natsStatus_GetText(s);
    if (jerr != kNoJsError)
        why += " (JetStream error " + std::to_string(static_cast<int>(jerr)) + ")";
    const char* last = nats_GetLastError(nullptr);
    if (last != nullptr && *last != '\0') why += ": " + std::string(last);
    return why;
}

StoredMessage Copy(natsMsg* msg) {
    StoredMessage out;
    out.subject = bus::SubjectOf(msg);
    out.data = bus::DataOf(msg);
    if (const auto meta = bus::MetadataOf(msg)) {
        out.seq = meta->stream_sequence;
        out.time_ns = meta->time_ns;
        out.pending = meta->pending;
    }
    out.headers = bus::HeadersOf(msg);
    return out;
}

}  // namespace

const std::string& StoredMessage::Header(const std::string& key) const {
    static const std::string kEmpty;
    const auto it = headers.find(key);
    return it == headers.end() ? kEmpty : it->second;
}

StreamReader::StreamReader(bus::Nats& nats, const std::string& stream, const std::string& filter,
                           StartAt start) {
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = stream.c_str();
    so.Ordered = true;
    switch (start.kind) {
        case StartAt::Kind::kAll:
            so.Config.DeliverPolicy = js_DeliverAll;
            break;
        case StartAt::Kind::kNew:
            so.Config.DeliverPolicy = js_DeliverNew;
            break;
        case StartAt::Kind::kLastPerSubject:
            so.Config.DeliverPolicy = js_DeliverLastPerSubject;
            break;
        case StartAt::Kind::kSequence:
            so.Config.DeliverPolicy = js_DeliverByStartSequence;
            so.Config.OptStartSeq = start.sequence;
            break;
        case StartAt::Kind::kTime:
            so.Config.DeliverPolicy = js_DeliverByStartTime;
            so.Config.OptStartTime = start.time_ns;
            break;
    }
    jsErrCode jerr = kNoJsError;
    const natsStatus s = js_SubscribeSync(&sub_, nats.Js(), filter.c_str(), nullptr, &so, &jerr);
    if (s != NATS_OK) {
        sub_ = nullptr;
        if (jerr == JSStreamNotFoundErr)
            throw MissingStream("stream " + stream + " does not exist");
        throw ToolError("cannot read " + stream + " (" + filter + "): " + Why(s, jerr));
    }
    jsConsumerInfo* info = nullptr;
    if (natsSubscription_GetConsumerInfo(&info, sub_, nullptr, &jerr) == NATS_OK) {
        started_empty_ = info->NumPending == 0 && info->Delivered.Consumer == 0;
        jsConsumerInfo_Destroy(info);
    }
}

StreamReader::~StreamReader() {
    if (sub_ == nullptr) return;
    natsSubscription_Unsubscribe(sub_);  // deletes the ephemeral consumer now
    natsSubscription_Destroy(sub_);
}

std::optional<StoredMessage> StreamReader::Next(std::chrono::milliseconds timeout) {
    natsMsg* msg = nullptr;
    const natsStatus s =
        natsSubscription_NextMsg(&msg, sub_, std::max<std::int64_t>(1, timeout.count()));
    if (s == NATS_TIMEOUT) return std::nullopt;
    if (s != NATS_OK)
        throw ToolError(std::string("reading the stream failed: ") + Why(s, kNoJsError));
    bus::MsgPtr owned(msg);
    return Copy(msg);
}

bool ReadStored(bus::Nats& nats, const std::string& stream, const std::string& filter,
                StartAt start, const std::function<bool(const StoredMessage&)>& each) {
    std::optional<StreamReader> reader;
    try {
        reader.emplace(nats, stream, filter, start);
    } catch (const MissingStream&) {
        return false;
    }
    if (reader->StartedEmpty()) return true;
    for (;;) {
        auto msg = reader->Next(std::chrono::seconds(10));
        if (!msg) throw ToolError("reading " + stream + " stalled: no message for 10 s");
        if (!each(*msg) || msg->pending == 0) return true;
    }
}

}  // namespace keel::bus_tool
