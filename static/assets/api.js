// The admin API client: JSON in and out, the CSRF token on every change, and one error type
// whose message is the server's, in the page's language.

import { serverText } from "./i18n.js";

let csrf = "";
let onSignedOut = () => {};

export function setCsrf(token) {
  csrf = token || "";
}

/** Called when a call finds the session gone (expired, logged out elsewhere). */
export function whenSignedOut(fn) {
  onSignedOut = fn;
}

export class ApiError extends Error {
  constructor(status, message, signedOut = false) {
    super(serverText(message));
    this.status = status;
    /** The session ended: the sign-in page says so, nothing else needs to. */
    this.signedOut = signedOut;
  }
}

export async function api(method, path, body) {
  const opts = { method, headers: {}, credentials: "same-origin" };
  if (method !== "GET") {
    opts.headers["content-type"] = "application/json";
    opts.headers["x-csrf-token"] = csrf;
    opts.body = JSON.stringify(body ?? {});
  }
  let resp;
  try {
    resp = await fetch(`/api/admin${path}`, opts);
  } catch {
    throw new ApiError(0, "The gateway cannot be reached.");
  }
  let data = null;
  try {
    data = await resp.json();
  } catch {
    data = null;
  }
  if (!resp.ok) {
    const message = data?.error?.message || `${resp.status} ${resp.statusText}`;
    const ended = resp.status === 401 && !["/login", "/setup", "/session"].includes(path);
    if (ended) onSignedOut();
    throw new ApiError(resp.status, message, ended);
  }
  return data;
}

export const get = (path) => api("GET", path);
export const post = (path, body) => api("POST", path, body);
export const patch = (path, body) => api("PATCH", path, body);
export const put = (path, body) => api("PUT", path, body);
export const del = (path) => api("DELETE", path);

/** `?a=1&b=2` from an object, leaving out empty values. */
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== "" && v !== null && v !== undefined) q.set(k, v);
  const s = q.toString();
  return s ? `?${s}` : "";
}
