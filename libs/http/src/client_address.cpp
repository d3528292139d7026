#include <keel/http/client_address.hpp>

#include <charconv>

namespace keel::http {
namespace {

std::optional<asio::ip::address> ParseAddress(std::string_view text) {
    boost::system::error_code ec;
    auto address = asio::ip::make_address(std::string(text), ec);
    if (ec) return std::nullopt;
    return address;
}

// IPv4-mapped IPv6 shown as the IPv4 address it carries ("127.0.0.1", not "::ffff:...").
asio::ip::address Unmapped(const asio::ip::address& address) {
    if (address.is_v6() && address.to_v6().is_v4_mapped())
        return asio::ip::make_address_v4(asio::ip::v4_mapped, address.to_v6());
    return address;
}

std::array<unsigned char, 16> AsV6Bytes(const asio::ip::address& address) {
    if (address.is_v4())
        return asio::ip::make_address_v6(asio::ip::v4_mapped, address.to_v4()).to_bytes();
    return address.to_v6().to_bytes();
}

bool IsTrusted(const asio::ip::address& address, const std::vector<AddressRange>& trusted) {
    for (const auto& range : trusted) {
        if (range.Contains(address)) return true;
    }
    return false;
}

std::string_view Trim(std::string_view text) {
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
    return text;
}

// X-Forwarded-For is "client, proxy1, proxy2": each proxy appends the peer it saw, so
// the rightmost entry not added by one of our own proxies is the first one we cannot
// vouch for beyond; anything left of it may be made up by the client.
std::optional<asio::ip::address> FromForwardedFor(std::string_view header,
                                                  const std::vector<AddressRange>& trusted) {
    std::optional<asio::ip::address> last_trusted;
    while (!header.empty()) {
        const auto comma = header.rfind(',');
        const std::string_view entry =
            Trim(comma == std::string_view::npos ? header : header.substr(comma + 1));
        header = comma == std::string_view::npos ? std::string_view{} : header.substr(0, comma);
        auto address = ParseAddress(entry);
        if (!address) return last_trusted;
        if (!IsTrusted(*address, trusted)) return address;
        last_trusted = address;
    }
    return last_trusted;
}

}  // namespace

std::optional<AddressRange> AddressRange::Parse(std::string_view text) {
    const auto slash = text.find('/');
    auto address = ParseAddress(text.substr(0, slash));
    if (!address) return std::nullopt;
    const unsigned width = address->is_v4() ? 32 : 128;
    unsigned prefix = width;
    if (slash != std::string_view::npos) {
        const std::string_view digits = text.substr(slash + 1);
        const char* end = digits.data() + digits.size();
        const auto parsed = std::from_chars(digits.data(), end, prefix);
        if (digits.empty() || parsed.ec != std::errc{} || parsed.ptr != end || prefix > width)
            return std::nullopt;
    }
    AddressRange range;
    range.bytes_ = AsV6Bytes(*address);
    range.prefix_ = prefix + (128 - width);
    return range;
}

bool AddressRange::Contains(const asio::ip::address& address) const {
    const auto bytes = AsV6Bytes(address);
    unsigned bits = prefix_;
    for (std::size_t i = 0; i < bytes.size() && bits > 0; ++i) {
        const unsigned take = bits >= 8 ? 8 : bits;
        const auto mask = static_cast<unsigned char>(0xFF << (8 - take));
        if ((bytes[i] & mask) != (bytes_[i] & mask)) return false;
        bits -= take;
    }
    return true;
}

std::optional<std::vector<AddressRange>> ParseAddressRanges(std::string_view text,
                                                            std::string& error) {
    std::vector<AddressRange> ranges;
    while (!text.empty()) {
        const auto end = text.find_first_of(", ");
        const std::string_view entry = text.substr(0, end);
        text = end == std::string_view::npos ? std::string_view{} : text.substr(end + 1);
        if (entry.empty()) continue;
        auto range = AddressRange::Parse(entry);
        if (!range) {
            error = "'" + std::string(entry) + "' is not an IP address or CIDR block";
            return std::nullopt;
        }
        ranges.push_back(*range);
    }
    return ranges;
}

std::vector<AddressRange> LoopbackRanges() {
    return {*AddressRange::Parse("127.0.0.0/8"), *AddressRange::Parse("::1")};
}

std::string ClientAddress(const asio::ip::address& peer, std::string_view x_real_ip,
                          std::string_view x_forwarded_for,
                          const std::vector<AddressRange>& trusted_proxies) {
    const auto direct = Unmapped(peer);
    if (!IsTrusted(direct, trusted_proxies)) return direct.to_string();
    if (auto real = ParseAddress(Trim(x_real_ip))) return Unmapped(*real).to_string();
    if (auto forwarded = FromForwardedFor(x_forwarded_for, trusted_proxies))
        return Unmapped(*forwarded).to_string();
    return direct.to_string();
}

}  // namespace keel::http
