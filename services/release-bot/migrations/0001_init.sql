-- release-bot's audit log. Applied at start under an advisory lock; an applied migration is
-- never edited (its checksum would stop the start): change the schema in 0002_*.sql, and so on.
-- One row per release, rollback or refused attempt: who asked (Telegram user and chat), what,
-- from which version to which, how it ended and when.
CREATE TABLE release_log (
    id           bigserial PRIMARY KEY,
    chat_id      bigint NOT NULL,
    user_id      bigint,
    username     text NOT NULL DEFAULT '',
    command      text NOT NULL CHECK (command IN ('release', 'rollback')),
    service      text NOT NULL,
    from_version text NOT NULL DEFAULT '',
    to_version   text NOT NULL DEFAULT '',
    outcome      text NOT NULL DEFAULT 'running'
                 CHECK (outcome IN ('running', 'released', 'rolled_back', 'failed', 'refused',
                                    'unchanged', 'interrupted')),
    detail       text NOT NULL DEFAULT '',
    started_at   timestamptz NOT NULL DEFAULT now(),
    finished_at  timestamptz
);
-- at most one release or rollback of a service at a time, whichever replica of the bot runs it
CREATE UNIQUE INDEX release_log_one_running ON release_log (service) WHERE outcome = 'running';
CREATE INDEX release_log_recent ON release_log (started_at DESC, id DESC);
