// Settings: the account health policy (changed here, applied at once), how the rest of the
// service runs (timeouts, time zone: set in its environment), model prices, and admins.

import { get, put, del, post } from "../api.js";
import { h, clear, time, table, field, values, notice, attempt } from "../ui.js";
import { t } from "../i18n.js";

const POLICY = [
  ["accounts", "error_threshold", "Server errors that take an account out", "AICARPOOL_ERROR_THRESHOLD"],
  ["accounts", "error_window_secs", "Error window (s)", "AICARPOOL_ERROR_WINDOW_SECS"],
  ["accounts", "temp_error_cooldown_secs", "Cooldown before an account returns (s)", "AICARPOOL_TEMP_ERROR_COOLDOWN_SECS"],
  ["accounts", "recovery_interval_secs", "Recovery check every (s)", "AICARPOOL_RECOVERY_INTERVAL_SECS"],
  ["upstream", "max_attempts", "Attempts per request (failover)", "AICARPOOL_MAX_ATTEMPTS"],
  ["upstream", "connect_timeout_secs", "Upstream connect timeout (s)", "AICARPOOL_UPSTREAM_CONNECT_TIMEOUT_SECS"],
  ["upstream", "first_byte_timeout_secs", "Upstream first-byte timeout (s)", "AICARPOOL_UPSTREAM_FIRST_BYTE_TIMEOUT_SECS"],
  ["upstream", "idle_timeout_secs", "Upstream idle gap in a stream (s)", "AICARPOOL_UPSTREAM_IDLE_TIMEOUT_SECS"],
  ["upstream", "sticky_ttl_secs", "Sticky session lifetime (s)", "AICARPOOL_STICKY_SESSION_TTL_SECS"],
  ["upstream", "rate_limit_default_secs", "Rate-limit pause without a reset header (s)", "AICARPOOL_RATE_LIMIT_SECS"],
  ["upstream", "rate_limit_cap_secs", "Longest rate-limit pause (s)", "AICARPOOL_RATE_LIMIT_CAP_SECS"],
  ["http", "listen", "Listening on", "AICARPOOL_LISTEN"],
  ["http", "max_body_bytes", "Largest request body (bytes)", "AICARPOOL_MAX_BODY_BYTES"],
  ["http", "queue_timeout_secs", "Longest wait for a concurrency slot (s)", "AICARPOOL_QUEUE_TIMEOUT_SECS"],
  ["http", "shutdown_drain_secs", "Drain time at shutdown (s)", "AICARPOOL_SHUTDOWN_DRAIN_SECS"],
];

export async function render() {
  const [s, prices] = await Promise.all([get("/settings"), get("/prices")]);
  const refresh = () => window.dispatchEvent(new HashChangeEvent("hashchange"));

  const priceError = h("p", { class: "form-error", role: "alert" });
  const priceForm = h("form", { class: "form-grid", id: "price-form" }, priceError,
    field("Model", "model", { required: true, placeholder: "claude-sonnet-4-5" }),
    field("Input", "input", { inputmode: "decimal", required: true }),
    field("Output", "output", { inputmode: "decimal", required: true }),
    field("Cache write (5 min)", "cache_write", { inputmode: "decimal", placeholder: "1.25 × input" }),
    field("Cache write (1 h)", "cache_write_1h", { inputmode: "decimal", placeholder: "2 × input" }),
    field("Cache read", "cache_read", { inputmode: "decimal", placeholder: "0.1 × input" }),
    h("button", { type: "submit", class: "primary" }, "Save price"));
  priceForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    const { model, ...body } = values(priceForm);
    const r = await attempt(() => put(`/prices/${encodeURIComponent(model)}`, body), priceError);
    if (r) { notice(t("Price of {model} saved.", { model: r.model })); refresh(); }
  });
  const editPrice = (p) => {
    const set = (n, v) => { priceForm.querySelector(`[name=${n}]`).value = v; };
    set("model", p.model); set("input", p.input_usd_per_mtok); set("output", p.output_usd_per_mtok);
    set("cache_write", p.cache_write_usd_per_mtok); set("cache_write_1h", p.cache_write_1h_usd_per_mtok);
    set("cache_read", p.cache_read_usd_per_mtok);
    priceForm.querySelector("[name=input]").focus();
  };
  const removePrice = async (p) => {
    if (!confirm(t("Remove the price of {model}? Its requests will be logged as unpriced.", { model: p.model }))) return;
    if (await attempt(() => del(`/prices/${encodeURIComponent(p.model)}`))) { notice("Removed."); refresh(); }
  };

  const policyError = h("p", { class: "form-error", role: "alert" });
  const policyForm = h("form", { class: "form-grid", id: "policy-form" }, policyError,
    POLICY.filter(([group]) => group === "accounts").map(([, name, label, variable]) => field(label, name, {
      type: "number", min: 1, value: s.accounts[name],
      help: t("Environment ({variable}): {value}", { variable, value: s.accounts_environment[name] }) + (s.accounts_override[name] != null ? t(" — changed here") : ""),
    })),
    h("div", { class: "actions" },
      h("button", { type: "submit", class: "primary" }, "Save policy"),
      h("button", { type: "button", onclick: async () => {
        if (await attempt(() => put("/settings/account-policy", {}), policyError)) { notice("Back to the environment's values."); refresh(); }
      } }, "Use the environment's values")));
  policyForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    const v = values(policyForm);
    const body = {};
    // Only values that differ from the environment's are stored as overrides.
    for (const k of Object.keys(v)) if (v[k] !== "" && Number(v[k]) !== s.accounts_environment[k]) body[k] = Number(v[k]);
    if (await attempt(() => put("/settings/account-policy", body), policyError)) { notice("Account policy saved; in force now."); refresh(); }
  });

  const adminError = h("p", { class: "form-error", role: "alert" });
  const adminForm = h("form", { class: "form-grid", id: "admin-form" }, adminError,
    field("Username", "username", { required: true, autocomplete: "off" }),
    field("New password (at least 10 characters)", "password", { type: "password", required: true, autocomplete: "new-password" }),
    h("button", { type: "submit" }, "Create admin or set password"));
  adminForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    const r = await attempt(() => post("/admins", values(adminForm)), adminError);
    if (r) { notice(r.created ? t("Admin {name} created.", { name: r.username }) : t("Password of {name} changed; their sessions ended.", { name: r.username })); refresh(); }
  });

  return h("div", { class: "page", id: "settings" },
    h("h1", {}, "Settings"),
    h("section", { class: "card" }, h("h2", {}, "Account health"),
      h("p", { class: "hint" }, "When server errors take an account out of rotation and when it comes back. Changes apply at once and outlive restarts."),
      policyForm),
    h("section", { class: "card" }, h("h2", {}, "Service"),
      h("p", { class: "hint" }, "These are set in the service's environment file (",
        h("code", {}, "/etc/aicarpool/aicarpool.env"), ") and take effect on restart."),
      table([
        ["Setting", (r) => r[2]],
        ["Value", (r) => String(s[r[0]][r[1]]), "num"],
        ["Variable", (r) => h("code", {}, r[3])],
      ], POLICY.filter(([group]) => group !== "accounts")),
      h("dl", { class: "facts" },
        h("dt", {}, "Time zone (days and budgets)"), h("dd", {}, s.time_zone, " ", h("code", {}, "AICARPOOL_TIME_ZONE")),
        h("dt", {}, "TLS"), h("dd", {}, s.http.tls ? "on" : "off (put a TLS proxy in front, or use --tls-cert/--tls-key)"),
        h("dt", {}, "Data directory"), h("dd", {}, s.data_dir),
        h("dt", {}, "Version"), h("dd", {}, s.version))),
    h("section", { class: "card", id: "prices" }, h("h2", {}, "Model prices (USD per million tokens)"),
      table([
        ["Model", (p) => p.model],
        ["Input", (p) => p.input_usd_per_mtok, "num"],
        ["Output", (p) => p.output_usd_per_mtok, "num"],
        ["Cache write 5 min", (p) => p.cache_write_usd_per_mtok, "num"],
        ["Cache write 1 h", (p) => p.cache_write_1h_usd_per_mtok, "num"],
        ["Cache read", (p) => p.cache_read_usd_per_mtok, "num"],
        ["", (p) => h("span", { class: "row-actions" },
          h("button", { type: "button", onclick: () => editPrice(p) }, "Edit"),
          h("button", { type: "button", class: "danger", onclick: () => removePrice(p) }, "Remove"))],
      ], prices, { empty: "No prices: every request is logged as unpriced." }),
      h("h3", {}, "Set a price"), priceForm),
    h("section", { class: "card", id: "admins" }, h("h2", {}, "Admins"),
      table([["Username", (a) => a.username], ["Since", (a) => time(a.created_at)]], s.admins),
      adminForm));
}
