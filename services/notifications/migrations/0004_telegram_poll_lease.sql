-- Which instance long-polls the bot's getUpdates, until when (database time). Telegram
-- answers a second poller of one bot with 409 and the two steal updates from each other, so
-- exactly one instance polls: one row per bot, taken and renewed by single statements.
CREATE TABLE telegram_poll_lease (
    name       text PRIMARY KEY,
    holder     text NOT NULL,
    expires_at timestamptz NOT NULL
);
