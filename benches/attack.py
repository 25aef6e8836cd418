"""Attack figures for README "When things go wrong": peak memory over bursts of wrong admin
sign-ins (from one address and from 128), the sockets the server holds under a flood of 500
silent connections and how fast /healthz still answers, and how long a silent connection
lives. Starts its own `aicarpool serve` on loopback in a temporary data directory; loopback
addresses 127.0.x.y stand in for many clients.

    cargo build --release && python3 benches/attack.py target/release/aicarpool

Given a second argument, it stops after the sign-in bursts (for builds without
--max-connections).
"""
import json, os, socket, subprocess, sys, tempfile, threading, time, http.client, re

BIN = sys.argv[1]
def rss(pid, field):
    for l in open(f"/proc/{pid}/status"):
        if l.startswith(field):
            return int(l.split()[1]) / 1024
def start(data, *flags):
    p = subprocess.Popen([BIN, "--data-dir", data, "serve", "--listen", "127.0.0.1:0", *flags],
                         stderr=subprocess.PIPE, text=True, env={**os.environ, "AICARPOOL_LOG": "info"})
    for line in p.stderr:
        m = re.search(r"addr=([0-9.]+:\d+)", line)
        if m and "listening" in line:
            host, port = m.group(1).split(":")
            threading.Thread(target=lambda: [None for _ in p.stderr], daemon=True).start()
            return p, (host, int(port))
def login(addr, source="127.0.0.1"):
    c = http.client.HTTPConnection(*addr, timeout=120, source_address=(source, 0))
    c.request("POST", "/api/admin/login", json.dumps({"username": "ops", "password": "wrong"}),
              {"content-type": "application/json"})
    return c.getresponse().status

data = tempfile.mkdtemp()
subprocess.run([BIN, "--data-dir", data, "admin", "set-password", "--username", "ops"],
               input="correct horse battery staple\n", text=True, check=True, capture_output=True)
for n in (64, 128):
    p, addr = start(data)
    before = rss(p.pid, "VmRSS:")
    res = []
    ts = [threading.Thread(target=lambda: res.append(login(addr))) for _ in range(n)]
    [t.start() for t in ts]; [t.join() for t in ts]
    print(f"sign-in burst of {n} from one address: {res.count(401)}x401 {res.count(429)}x429, "
          f"RSS {before:.0f} MB before, peak {rss(p.pid, 'VmHWM:'):.0f} MB")
    p.kill(); p.wait()
p, addr = start(data)
res = []
ts = [threading.Thread(target=lambda i=i: res.append(login(addr, f"127.0.{1 + i // 200}.{2 + i % 200}"))) for i in range(128)]
[t.start() for t in ts]; [t.join() for t in ts]
print(f"sign-in burst of 128 from 128 addresses: {res.count(401)}x401 {res.count(429)}x429, peak RSS {rss(p.pid, 'VmHWM:'):.0f} MB")
p.kill(); p.wait()
if len(sys.argv) > 2:
    sys.exit(0)
p, addr = start(data, "--max-connections", "64", "--header-read-timeout-secs", "30")
socks = []
for _ in range(500):
    s = socket.create_connection(addr); socks.append(s)
time.sleep(1)
held = len([f for f in os.listdir(f"/proc/{p.pid}/fd") if os.readlink(f"/proc/{p.pid}/fd/{f}").startswith("socket:")])
t0 = time.time(); c = http.client.HTTPConnection(*addr, timeout=60); c.request("GET", "/healthz")
st = c.getresponse().status
print(f"500 silent connections, cap 64: the server holds {held} sockets; /healthz {st} in {1000*(time.time()-t0):.0f} ms")
s = socket.create_connection(addr); t0 = time.time(); s.settimeout(60)
got = s.recv(1)
print(f"a silent connection is cut {time.time()-t0:.1f} s after accept (AICARPOOL_HEADER_READ_TIMEOUT_SECS=30), read {len(got)} bytes")
p.kill()
