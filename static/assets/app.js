// Shows whether the gateway answers its health check.
const el = document.getElementById("health");
fetch("/healthz")
  .then((r) => r.json())
  .then((h) => { el.textContent = `Health: ${h.status} (version ${h.version})`; })
  .catch(() => { el.textContent = "Health: unreachable"; });
