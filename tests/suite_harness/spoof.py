"""Hand-made IPv4/UDP frames, for the forged/replayed heartbeat test: sent from the attacker's
namespace with a forged source address straight to the victim's MAC (raw AF_PACKET), so no ARP
traffic from the attacker disturbs the real nodes. Captures use AF_PACKET in the bridge
namespace, on the port of the node being recorded."""
import socket
import struct
import time

from suite_harness.netns import NODE_IF, in_netns

ETH_P_IP = 0x0800
ETH_P_ALL = 0x0003
ETH_HEADER = 14
IP_HEADER = 20
UDP_HEADER = 8
HEARTBEAT_PORT = 694
IP_TTL = 64


def _checksum(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def mac_of(lab, node, ifname=NODE_IF):
    out = lab.exec(node, ["cat", f"/sys/class/net/{ifname}/address"]).stdout.strip()
    return bytes.fromhex(out.replace(":", ""))


def udp_frame(src_mac, dst_mac, src_ip, dst_ip, payload, sport=HEARTBEAT_PORT,
              dport=HEARTBEAT_PORT):
    src, dst = socket.inet_aton(src_ip), socket.inet_aton(dst_ip)
    udp_len = UDP_HEADER + len(payload)
    pseudo = src + dst + struct.pack("!BBH", 0, socket.IPPROTO_UDP, udp_len)
    udp = struct.pack("!HHHH", sport, dport, udp_len, 0) + payload
    udp = udp[:6] + struct.pack("!H", _checksum(pseudo + udp) or 0xFFFF) + udp[8:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, IP_HEADER + udp_len, 0, 0, IP_TTL,
                     socket.IPPROTO_UDP, 0, src, dst)
    ip = ip[:10] + struct.pack("!H", _checksum(ip)) + ip[12:]
    return dst_mac + src_mac + struct.pack("!H", ETH_P_IP) + ip + udp


def send_frames(lab, node, frames, gap=0.002):
    with in_netns(lab.ns(node)):
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
        try:
            s.bind((NODE_IF, 0))
            for f in frames:
                s.send(f)
                time.sleep(gap)
        finally:
            s.close()


def capture_heartbeats(lab, port, src_ip, seconds):
    """UDP payloads to HEARTBEAT_PORT from src_ip seen on the bridge port `port`."""
    out = []
    with in_netns(lab.bridge_ns):
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        try:
            s.bind((port, 0))
            s.settimeout(0.05)
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                try:
                    frame = s.recv(2048)
                except socket.timeout:
                    continue
                if len(frame) < ETH_HEADER + IP_HEADER + UDP_HEADER:
                    continue
                if struct.unpack("!H", frame[12:14])[0] != ETH_P_IP:
                    continue
                ip = frame[ETH_HEADER:]
                ihl = (ip[0] & 0x0F) * 4
                if ip[9] != socket.IPPROTO_UDP or socket.inet_ntoa(ip[12:16]) != src_ip:
                    continue
                udp = ip[ihl:]
                if struct.unpack("!H", udp[2:4])[0] == HEARTBEAT_PORT:
                    out.append(bytes(udp[UDP_HEADER:]))
        finally:
            s.close()
    return out
