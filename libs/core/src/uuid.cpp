#include <keel/core/uuid.hpp>

#include <chrono>
#include <mutex>
#include <random>

namespace keel {
namespace {

std::uint64_t RandomU64() {
    thread_local std::mt19937_64 engine{[] {
        std::random_device device;
        return (static_cast<std::uint64_t>(device()) << 32) ^ device();
    }()};
    return engine();
}

int HexValue(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

constexpr char kHex[] = "0123456789abcdef";

}  // namespace

Uuid Uuid::V7() {
    // 48-bit Unix milliseconds, then a 12-bit counter (rand_a) that keeps ids made in
    // the same millisecond in order (RFC 9562 method 1), then 62 random bits.
    static std::mutex mutex;
    static std::uint64_t last_ms = 0;
    static std::uint16_t counter = 0;
    const auto now_ms =
        static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                       std::chrono::system_clock::now().time_since_epoch())
                                       .count());
    std::uint64_t ms;
    std::uint16_t seq;
    {
        std::lock_guard lock(mutex);
        if (now_ms > last_ms) {
            last_ms = now_ms;
            counter = static_cast<std::uint16_t>(RandomU64() & 0x3ff);
        } else if (++counter > 0xfff) {
            ++last_ms;  // counter exhausted: borrow the next millisecond
            counter = 0;
        }
        ms = last_ms;
        seq = counter;
    }
    Uuid id;
    for (int i = 0; i < 6; ++i) id.bytes_[i] = static_cast<std::uint8_t>(ms >> (40 - 8 * i));
    id.bytes_[6] = static_cast<std::uint8_t>(0x70 | ((seq >> 8) & 0x0f));
    id.bytes_[7] = static_cast<std::uint8_t>(seq & 0xff);
    const std::uint64_t random = RandomU64();
    for (int i = 0; i < 8; ++i)
        id.bytes_[8 + i] = static_cast<std::uint8_t>(random >> (56 - 8 * i));
    id.bytes_[8] = static_cast<std::uint8_t>(0x80 | (id.bytes_[8] & 0x3f));
    return id;
}

std::optional<Uuid> Uuid::Parse(std::string_view text) {
    if (text.size() != 36) return std::nullopt;
    Uuid id;
    std::size_t byte = 0;
    for (std::size_t i = 0; i < text.size();) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (text[i] != '-') return std::nullopt;
            ++i;
            continue;
        }
        const int hi = HexValue(text[i]);
        const int lo = HexValue(text[i + 1]);
        if (hi < 0 || lo < 0) return std::nullopt;
        id.bytes_[byte++] = static_cast<std::uint8_t>(hi << 4 | lo);
        i += 2;
    }
    return id;
}

std::string Uuid::ToString() const {
    std::string out;
    out.reserve(36);
    for (std::size_t i = 0; i < 16; ++i) {
        if (i == 4 || i == 6 || i == 8 || i == 10) out.push_back('-');
        out.push_back(kHex[bytes_[i] >> 4]);
        out.push_back(kHex[bytes_[i] & 0xf]);
    }
    return out;
}

std::string RandomHex(std::size_t bytes) {
    std::string out;
    out.reserve(bytes * 2);
    for (std::size_t i = 0; i < bytes; i += 8) {
        std::uint64_t r = RandomU64();
        for (std::size_t j = 0; j < 8 && i + j < bytes; ++j, r >>= 8) {
            out.push_back(kHex[(r >> 4) & 0xf]);
            out.push_back(kHex[r & 0xf]);
        }
    }
    return out;
}

}  // namespace keel
