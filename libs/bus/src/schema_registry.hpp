// The bus's schema registry. A service publishes, when it connects, every schema it
// writes to stream KEEL_SCHEMAS under keel.schemas.<fingerprint> (one message per
// subject, kept forever); a consumer that meets an event written with a fingerprint its
// codec does not know looks the schema up there, checks that the text hashes to that
// fingerprint and resolves into its reader's schema, and teaches it to the codec. This
// is how a consumer on an older version reads what a newer producer writes during a
// rolling deploy (a binary can only embed the versions released before it).
#pragma once
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/thread_pool.hpp>

#include <keel/core/asio.hpp>

#include <keel/bus/codec.hpp>
#include <keel/bus/nats.hpp>

namespace keel::bus {

inline constexpr const char* kSchemaStream = "KEEL_SCHEMAS";  // keel.schemas.<fingerprint>

std::string SchemaSubject(std::string_view fingerprint);
/// The registry stream: one message per fingerprint, no age limit (a producer may run
/// for longer than the event retention without restarting).
StreamSpec SchemaStreamSpec(int replicas);
/// Publishes the schemas of `topics` under their fingerprints. Blocking; throws NatsError.
void PublishSchemas(Nats& nats, const Codec& codec, const std::vector<std::string>& topics);
/// The schema text registered under `fingerprint`; nullopt when there is none.
/// Blocking; throws NatsError when NATS does not answer.
std::optional<std::string> FetchSchema(Nats& nats, std::string_view fingerprint);

/// Looks up the writer schemas that consumers meet and the codec does not know, on
/// the bus's blocking threads, never on the caller's. Thread-safe.
class SchemaLookup final : public std::enable_shared_from_this<SchemaLookup> {
public:
    /// How long an unknown fingerprint is taken for a deploy in progress (warnings);
    /// after it each refused event is an error (logged, `keel_bus_unknown_schemas`).
    static constexpr std::chrono::minutes kGrace{10};
    /// The least time between two registry lookups of one fingerprint.
    static constexpr std::chrono::milliseconds kRetryLookup{500};

    SchemaLookup(const Codec& codec, std::shared_ptr<Nats> nats,
                 asio::thread_pool::executor_type blocking);

    /// `consumer` could not decode an event of `topic` written with `fingerprint`:
    /// counts and logs it, and starts a lookup unless one runs, ran less than
    /// kRetryLookup ago or found a schema that does not resolve. Returns why the
    /// schema is unknown so far. Never blocks.
    std::string Missing(const std::string& consumer, const std::string& topic,
                        const std::string& fingerprint);
    /// Looks `fingerprint` up now and teaches it to the codec; whether the codec knows
    /// it afterwards. Blocking (Missing runs it on the blocking threads).
    bool LookUpNow(const std::string& fingerprint);

private:
    struct Unknown {
        std::chrono::steady_clock::time_point first_seen;
        std::chrono::steady_clock::time_point last_lookup;
        std::chrono::steady_clock::time_point last_log;
        bool looking = false;
        bool unresolvable = false;  // final: the text for a fingerprint never changes
        bool overdue = false;
        std::string why = "not looked up yet";
    };
    void UpdateOverdueGauge();

    const Codec& codec_;
    std::shared_ptr<Nats> nats_;
    asio::thread_pool::executor_type blocking_;
    std::mutex mutex_;
    std::map<std::string, Unknown, std::less<>> unknown_;
};

}  // namespace keel::bus
