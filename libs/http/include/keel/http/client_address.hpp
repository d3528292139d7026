#pragma once
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/ip/address.hpp>

#include <keel/core/asio.hpp>

namespace keel::http {

/// A block of IP addresses: `10.0.0.0/8`, `::1/128`, or one address (`192.0.2.7`).
/// IPv4 is held as IPv4-mapped IPv6, so an IPv4 peer seen on a dual-stack socket
/// (`::ffff:127.0.0.1`) matches an IPv4 block.
class AddressRange final {
public:
    /// nullopt when `text` is not an address with an optional prefix length in range.
    static std::optional<AddressRange> Parse(std::string_view text);
    bool Contains(const asio::ip::address& address) const;

private:
    std::array<unsigned char, 16> bytes_{};
    unsigned prefix_ = 0;  ///< in IPv6 bits
};

/// Parses a comma- or space-separated list of ranges; nullopt (and `error` says which
/// entry) when one is malformed.
std::optional<std::vector<AddressRange>> ParseAddressRanges(std::string_view text,
                                                            std::string& error);

/// 127.0.0.0/8 and ::1: the gateway runs on the same machine as the services.
std::vector<AddressRange> LoopbackRanges();

/// The client's address for `peer`: when the peer is in `trusted_proxies`, the address
/// in X-Real-IP, else the last X-Forwarded-For entry that is not itself a trusted proxy;
/// otherwise, or when those headers are absent or not addresses, the peer itself.
/// A spoofed header from anyone else is ignored, so per-client limits count the client.
std::string ClientAddress(const asio::ip::address& peer, std::string_view x_real_ip,
                          std::string_view x_forwarded_for,
                          const std::vector<AddressRange>& trusted_proxies);

}  // namespace keel::http
