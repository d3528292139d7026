-- One-time links that prove a Telegram chat belongs to a user: the user asks for a link
-- (POST /api/account/me/telegram-link), opens it in Telegram, and the bot's "/start <token>"
-- reaches account through notifications (POST /internal/telegram-links/claim). Only the token's
-- SHA-256 is kept: a copy of this table links nothing. One row per user: a new link replaces
-- the old one, which then no longer works.
CREATE TABLE telegram_links (
    user_id        uuid PRIMARY KEY REFERENCES profiles (user_id) ON DELETE CASCADE,
    token_hash     text NOT NULL UNIQUE CHECK (token_hash ~ '^[0-9a-f]{64}$'),
    expires_at     timestamptz NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    -- Set once, when the link is used: the chat it linked and the bot's update that carried
    -- it (the same update handed over again, after a lost answer, is told "linked" again;
    -- any other use of a used token is refused).
    used_at        timestamptz NULL,
    used_chat_id   bigint NULL,
    used_update_id bigint NULL,
    CHECK ((used_at IS NULL) = (used_chat_id IS NULL))
);
