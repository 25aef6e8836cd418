// Copy-ready settings that point each client at this gateway with a member key: Claude Code,
// Codex CLI (its config file and its shell line apart, each valid as it is), Gemini CLI and
// the SDKs. Shown to an admin once when a key is made, and on the member's own page.

import { h, copy } from "./ui.js";

/** The snippets for `key` (the key itself, or a placeholder when it is not known). */
export function clientSettings(key) {
  const base = location.origin;
  const snippets = [
    ["Claude Code", `export ANTHROPIC_BASE_URL=${base}\nexport ANTHROPIC_AUTH_TOKEN=${key}\nclaude`],
    ["Codex CLI: ~/.codex/config.toml", `model_provider = "aicarpool"\n\n[model_providers.aicarpool]\nname = "aicarpool"\nbase_url = "${base}/v1"\nenv_key = "AICARPOOL_KEY"\nwire_api = "responses"`],
    ["Codex CLI: shell", `export AICARPOOL_KEY=${key}\ncodex`],
    ["Gemini CLI: ~/.gemini/settings.json", `{"security": {"auth": {"selectedType": "gemini-api-key"}}}`],
    ["Gemini CLI: shell", `export GOOGLE_GEMINI_BASE_URL=${base}\nexport GEMINI_API_KEY=${key}\ngemini`],
    ["Anthropic SDK (Python)", `anthropic.Anthropic(base_url="${base}", api_key="${key}")`],
    ["OpenAI SDK (Python)", `openai.OpenAI(base_url="${base}/v1", api_key="${key}")`],
    ["Google GenAI SDK (Python)", `genai.Client(api_key="${key}", http_options={"base_url": "${base}"})`],
  ];
  return snippets.map(([title, text]) => {
    const pre = h("pre", {}, text);
    return h("div", { class: "snippet" }, h("div", { class: "page-head" }, h("h3", {}, title),
      h("button", { type: "button", onclick: () => copy(text, pre) }, "Copy")), pre);
  });
}
