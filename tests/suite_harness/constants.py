"""Addresses, ports and request profiles every part of the harness agrees on."""

LOOPBACK = "127.0.0.1"

# The private LAN of the HA and whole-system labs: it exists only inside the namespaces a test
# creates (netns.NetnsLab), never in the host's.
LAB_SUBNET = "10.231.0"
SERVICE_ADDRESS = f"{LAB_SUBNET}.100"
SERVICE_ADDRESS6 = "fd00:231::100"
SERVICE_PORT = 80
CLIENT_ADDRESS = f"{LAB_SUBNET}.200"
CLIENT_ADDRESS6 = "fd00:231::200"

# Sizes served by every web worker: a mixed profile from small API answers to large assets.
BACKEND_FILES = {"s1k": 1024, "s10k": 10 * 1024, "s100k": 100 * 1024}
# The request mix of the load clients: 60% 1 KiB, 30% 10 KiB, 10% 100 KiB, through /app.
MIXED_PATHS = ["/app/s1k"] * 6 + ["/app/s10k"] * 3 + ["/app/s100k"]
