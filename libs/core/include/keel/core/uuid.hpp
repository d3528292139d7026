#pragma once
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace keel {

/// A 128-bit UUID. New ids are version 7 (RFC 9562): time-ordered, so they index
/// well as primary keys and sort by creation time.
class Uuid final {
public:
    Uuid() = default;
    /// A fresh UUIDv7; monotonic within a process. Thread-safe.
    static Uuid V7();
    /// Parses the canonical 8-4-4-4-12 lower- or upper-case hex form.
    static std::optional<Uuid> Parse(std::string_view text);

    std::string ToString() const;
    const std::array<std::uint8_t, 16>& Bytes() const { return bytes_; }
    friend bool operator==(const Uuid&, const Uuid&) = default;

private:
    std::array<std::uint8_t, 16> bytes_{};
};

/// 128 random bits as 32 hex characters (request ids, trace ids).
std::string RandomHex(std::size_t bytes);

}  // namespace keel
