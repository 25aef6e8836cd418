// The admin page's shell: finds out whether anyone is signed in, shows sign-in or first-run
// setup, and routes `#/section/...` hashes to the page modules.

import { get, post, setCsrf, whenSignedOut } from "./api.js";
import { h, clear, field, values, attempt, themeButton, languageButton } from "./ui.js";
import { tr } from "./i18n.js";
import * as dashboard from "./pages/dashboard.js";
import * as accounts from "./pages/accounts.js";
import * as groups from "./pages/groups.js";
import * as keys from "./pages/keys.js";
import * as requests from "./pages/requests.js";
import * as settings from "./pages/settings.js";
import * as audit from "./pages/audit.js";
import * as me from "./pages/me.js";

const pages = { dashboard, accounts, groups, keys, requests, settings, audit };
const main = document.getElementById("main");
const header = document.querySelector("header.top");
document.querySelector("header.top .who").prepend(languageButton(), " ", themeButton(), " ");
// The page's static text (navigation, sign-out, skip link) in the chosen language.
for (const el of document.querySelectorAll("header nav a, #logout, a.skip")) el.textContent = tr(el.textContent.trim());
document.title = tr("aicarpool admin");
let session = null;
/** What the sign-in page says next time it is shown (after signing out). */
let farewell = "";

function signedIn(s) {
  session = s;
  setCsrf(s.csrf);
  document.getElementById("who").textContent = s.username;
  header.hidden = false;
}

function signedOut() {
  session = null;
  setCsrf("");
  header.hidden = true;
}

/** The sign-in form; `message` explains why it is shown. */
function loginPage(message) {
  signedOut();
  const error = h("p", { class: "form-error", role: "alert" }, message || "");
  const user = field("Username", "username", { autocomplete: "username", required: true });
  const pass = field("Password", "password", { type: "password", autocomplete: "current-password", required: true });
  const form = h("form", { class: "card narrow", id: "login-form" },
    h("h1", {}, "Sign in"), error, user, pass,
    h("button", { type: "submit", class: "primary" }, "Sign in"),
    h("p", { class: "hint" }, "Not an admin? ", h("a", { href: "#/me", id: "member-link" }, "I have an API key"), " — see your own usage."),
    h("p", { class: "actions" }, languageButton("page-language"), themeButton("page-theme")));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    error.textContent = "";
    const s = await attempt(() => post("/login", values(form)), error);
    if (s) {
      signedIn(s);
      document.getElementById("notices").replaceChildren();
      if (!location.hash || location.hash.startsWith("#/setup") || location.hash === "#/login") location.hash = "#/dashboard";
      else route();
    }
  });
  clear(main).appendChild(form);
  user.input.focus();
}

/** First run: the link `serve` printed lets the first admin choose a password. */
function setupPage(token) {
  const error = h("p", { class: "form-error", role: "alert" });
  const pass = field("Password (at least 10 characters)", "password", { type: "password", autocomplete: "new-password", required: true });
  const again = field("Password again", "again", { type: "password", autocomplete: "new-password", required: true });
  const user = field("Username", "username", { autocomplete: "username", required: true, value: "admin" });
  const form = h("form", { class: "card narrow", id: "setup-form" },
    h("h1", {}, "Welcome to aicarpool"),
    h("p", {}, "Choose the first admin's name and password. This link works once."),
    error, user, pass, again,
    h("button", { type: "submit", class: "primary" }, "Create admin and sign in"));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const v = values(form);
    if (v.password !== v.again) {
      error.textContent = "The two passwords differ.";
      return;
    }
    const s = await attempt(() => post("/setup", { token, username: v.username, password: v.password }), error);
    if (s) {
      signedIn(s);
      location.hash = "#/dashboard";
    }
  });
  clear(main).appendChild(form);
  user.input.focus();
}

/** The hash's path segments, without its `?query` (which pages read themselves). */
function currentPath() {
  return location.hash.replace(/^#\/?/, "").split("?")[0].split("/");
}

async function route() {
  const [section, ...rest] = currentPath();
  // A member's own page needs their key, not an admin session.
  if (section === "me") {
    header.hidden = !session;
    clear(main).appendChild(h("p", { class: "loading" }, "Loading…"));
    const view = await attempt(() => me.render(rest));
    if (view && currentPath()[0] === "me") clear(main).appendChild(view);
    return;
  }
  if (section === "setup") {
    if (session) {
      location.hash = "#/dashboard";
      return;
    }
    return setupPage(rest[0] || "");
  }
  if (!session) {
    const message = farewell;
    farewell = "";
    return loginPage(message);
  }
  const page = pages[section] || dashboard;
  for (const a of header.querySelectorAll("nav a")) {
    if (a.getAttribute("href") === `#/${section || "dashboard"}`) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  clear(main).appendChild(h("p", { class: "loading" }, "Loading…"));
  let view;
  try {
    view = await page.render(rest);
  } catch (e) {
    if (e.signedOut) return;
    // A page that cannot load says why, and where to go instead of waiting.
    view = h("div", { class: "card", id: "load-error", role: "alert" },
      h("h1", {}, "This page could not be loaded"), h("p", {}, e.message),
      h("p", {}, h("a", { href: `#/${section || "dashboard"}` }, "Back to the list")));
  }
  if (view && currentPath()[0] === section) {
    clear(main).appendChild(view);
    main.focus({ preventScroll: true });
  }
}

document.getElementById("logout").addEventListener("click", async () => {
  await attempt(() => post("/logout", {}));
  session = null;
  farewell = "You have signed out.";
  if (location.hash === "#/login") route();
  else location.hash = "#/login";
});

whenSignedOut(() => loginPage("Your session has ended; sign in again."));
window.addEventListener("hashchange", route);

(async () => {
  let s;
  try {
    s = await get("/session");
  } catch (e) {
    clear(main).appendChild(h("p", { class: "form-error" }, e.message));
    return;
  }
  if (s.authenticated) signedIn(s);
  if (!s.authenticated && s.setup_required && !location.hash.startsWith("#/setup")) {
    clear(main).appendChild(h("div", { class: "card narrow" },
      h("h1", {}, "No admin yet"),
      h("p", {}, "Open the one-time setup link that ", h("code", {}, "aicarpool serve"), " printed in its log, or run ",
        h("code", {}, "aicarpool admin set-password --username NAME"), ".")));
    return;
  }
  route();
})();
