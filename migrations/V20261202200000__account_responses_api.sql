-- Whether an OpenAI-compatible account serves the Responses API as well as chat completions:
-- 1 yes, 0 no (a Responses client is translated to chat for it), NULL decided by its host
-- (OpenAI's own API and Azure OpenAI do; other vendors are spoken to in chat).
ALTER TABLE ai_service_accounts ADD COLUMN responses_api INTEGER CHECK (responses_api IN (0, 1));
