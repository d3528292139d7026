#include "delivery_text.hpp"

#include <algorithm>
#include <array>

namespace keel::notifications {
namespace {

constexpr std::size_t kMaxReason = 200;

// Cut at a character boundary of UTF-8 text.
std::string_view Utf8Prefix(std::string_view text, std::size_t characters) {
    std::size_t seen = 0;
    for (std::size_t i = 0; i < text.size(); ++i) {
        if ((static_cast<unsigned char>(text[i]) & 0xC0) == 0x80) continue;
        if (seen++ == characters) return text.substr(0, i);
    }
    return text;
}

}  // namespace

int MinorUnitDigits(std::string_view currency) {
    static constexpr std::array<std::string_view, 17> kNone = {
        "BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG",
        "RWF", "UGX", "UYI", "VND", "VUV", "XAF", "XOF", "XPF"};
    static constexpr std::array<std::string_view, 7> kThree = {"BHD", "IQD", "JOD", "KWD",
                                                               "LYD", "OMR", "TND"};
    static constexpr std::array<std::string_view, 2> kFour = {"CLF", "UYW"};
    auto in = [currency](const auto& list) {
        return std::find(list.begin(), list.end(), currency) != list.end();
    };
    if (in(kNone)) return 0;
    if (in(kThree)) return 3;
    if (in(kFour)) return 4;
    return 2;
}

std::string FormatAmount(std::int64_t minor, std::string_view currency) {
    // Unsigned magnitude: -INT64_MIN does not fit in int64.
    const std::uint64_t magnitude = minor < 0 ? std::uint64_t{0} - static_cast<std::uint64_t>(minor)
                                              : static_cast<std::uint64_t>(minor);
    const int digits = MinorUnitDigits(currency);
    std::uint64_t scale = 1;
    for (int i = 0; i < digits; ++i) scale *= 10;
    std::string out = minor < 0 ? "-" : "";
    out += std::to_string(magnitude / scale);
    if (digits > 0) {
        std::string fraction = std::to_string(magnitude % scale);
        out += '.';
        out.append(static_cast<std::size_t>(digits) - fraction.size(), '0');
        out += fraction;
    }
    out += ' ';
    out += currency;
    return out;
}

std::string OrderConfirmedText(std::string_view order_id, std::int64_t total,
                               std::string_view currency) {
    return "Order " + std::string(order_id) +
           " is confirmed. Total: " + FormatAmount(total, currency) + ".";
}

std::string OrderCancelledText(std::string_view order_id, std::int64_t total,
                               std::string_view currency, std::string_view reason) {
    std::string text =
        "Order " + std::string(order_id) + " (" + FormatAmount(total, currency) + ") was cancelled";
    if (!reason.empty()) text += ": " + std::string(Utf8Prefix(reason, kMaxReason));
    return text + ".";
}

std::string ReceiptIssuedText(std::int64_t receipt_number, std::string_view order_id,
                              std::int64_t amount, std::string_view currency) {
    return "Receipt No. " + std::to_string(receipt_number) + " for order " + std::string(order_id) +
           ": " + FormatAmount(amount, currency) + ".";
}

}  // namespace keel::notifications
