-- Profiles, one per user, made from auth.user_registered.v1. The user edits the display
-- name and links a Telegram chat. updated_at has millisecond resolution and grows with
-- every change of a row: it orders the account.profile_updated.v1 events of a profile.
CREATE TABLE profiles (
    user_id          uuid PRIMARY KEY,
    -- Kept as a CHECK on purpose: an event with a longer address fails here and is
    -- dead-lettered; an operator who decides to accept it changes this constraint with
    -- a migration and retries the dead letter.
    email            text NOT NULL CHECK (length(email) <= 254),
    display_name     text NOT NULL DEFAULT '' CHECK (length(display_name) <= 100),
    -- Telegram chat ids: negative for groups; |id| < 2^52 so that JSON readers that use
    -- doubles keep them exact.
    telegram_chat_id bigint NULL
        CHECK (telegram_chat_id <> 0 AND telegram_chat_id BETWEEN -4503599627370495 AND 4503599627370495),
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);

-- Admin lookup by email (auth keeps emails unique and lower-case).
CREATE INDEX profiles_email ON profiles (email);
