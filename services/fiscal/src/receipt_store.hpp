#pragma once
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <keel/pg/pool.hpp>

#include "receipt.hpp"

namespace keel::fiscal {

/// Reads of fiscal's receipts (issuing happens in the consumer: IssueReceipt).
class ReceiptStore final {
public:
    explicit ReceiptStore(std::shared_ptr<pg::Pool> pool) : pool_(std::move(pool)) {}

    /// Receipts (sales and refunds) newest first (by number), of `user_id` (nullopt:
    /// anyone's), of `order_id` when given.
    Task<std::vector<Receipt>> List(const std::optional<std::string>& user_id,
                                    const std::optional<std::string>& order_id, int limit);

    /// Sale receipts and their orders (equal by construction), and the same for
    /// refund receipts.
    struct Stats {
        std::int64_t receipts = 0;
        std::int64_t distinct_orders = 0;
        std::int64_t refunds = 0;
        std::int64_t refunded_orders = 0;
    };
    Task<Stats> Count();

private:
    std::shared_ptr<pg::Pool> pool_;
};

}  // namespace keel::fiscal
