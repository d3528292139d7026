#pragma once
#include <cstdint>
#include <string>
#include <string_view>

namespace keel::notifications {

/// Digits after the decimal point of an ISO 4217 currency (2 unless the standard says
/// otherwise, e.g. JPY 0, KWD 3).
int MinorUnitDigits(std::string_view currency);

/// An amount in minor units as text: FormatAmount(1200, "USD") == "12.00 USD",
/// FormatAmount(500, "JPY") == "500 JPY". Integer arithmetic only.
std::string FormatAmount(std::int64_t minor, std::string_view currency);

/// The messages, short plain text. `reason` is cut to 200 characters.
std::string OrderConfirmedText(std::string_view order_id, std::int64_t total,
                               std::string_view currency);
std::string OrderCancelledText(std::string_view order_id, std::int64_t total,
                               std::string_view currency, std::string_view reason);
std::string ReceiptIssuedText(std::int64_t receipt_number, std::string_view order_id,
                              std::int64_t amount, std::string_view currency);

}  // namespace keel::notifications
