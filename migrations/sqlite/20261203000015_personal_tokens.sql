-- Personal access tokens: long-lived read tokens for BI tools, Grafana and scripts. They
-- live beside the login tokens in user_tokens; `scopes` (a JSON array such as
-- ["reports:read"]) marks one and limits it to those reads. NULL: a login token, which
-- acts with its user's full role.
ALTER TABLE user_tokens ADD COLUMN scopes TEXT;
CREATE INDEX user_tokens_personal ON user_tokens (created_at) WHERE scopes IS NOT NULL;
