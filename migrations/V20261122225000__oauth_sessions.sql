-- Claude subscription onboarding by OAuth PKCE: the verifier of each authorization link waits
-- here (sealed) until its code is exchanged or it expires. The state is the link's random id.
CREATE TABLE oauth_sessions (
    state       TEXT    PRIMARY KEY,
    verifier    BLOB    NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX oauth_sessions_expires_at ON oauth_sessions (expires_at);
