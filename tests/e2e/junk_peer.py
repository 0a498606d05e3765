#!/usr/bin/env python3
"""junk_peer.py PORT CERTS NODE READY - bad peers for a node's TLS ports.

Connects to a node's request port PORT and its feed port PORT + 1 and
sends, without a certificate: random bytes, a TLS ClientHello cut short,
a TLS record longer than TLS allows, an SP header with a 2^62-byte
message, a plain SP header, and connections that say nothing.  Then, as
node NODE of the cluster directory CERTS (a valid certificate, over
TLS): an SP header and a 2^62-byte length; a message that is no CBOR
request (which must be answered, naming the error); a message cut
short; HTTP instead of SP.  Every connection stays open: once all are
sent it creates the file READY and sleeps (at most 120 s) until killed,
so that the test checks the node while they hang.  Exits 1 if a step
that must work did not (the valid certificate refused, no answer).
"""
import os
import socket
import ssl
import struct
import sys
import time

port, certs, node, ready = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
SP_REQ = b"\x00SP\x00\x00\x30\x00\x00"  # SP header, protocol req0 (48)
held = []


def conn(p):
    s = socket.create_connection(("127.0.0.1", p), timeout=10)
    held.append(s)
    return s


def tls_conn():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.load_verify_locations(os.path.join(certs, "ca.pem"))
    d = os.path.join(certs, "nodes", node)
    ctx.load_cert_chain(os.path.join(d, "cert.pem"), os.path.join(d, "key.pem"))
    s = ctx.wrap_socket(conn(port))  # raises if the node refuses us
    held.append(s)
    return s


def recv_exact(s, n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            raise EOFError("connection closed after %d of %d bytes" % (len(b), n))
        b += c
    return b


for p in (port, port + 1):
    conn(p).sendall(os.urandom(65536))
    conn(p).sendall(b"\x16\x03\x01\x02\x00" + os.urandom(20))
    conn(p).sendall(b"\x16\x03\x03\xff\xff" + os.urandom(4096))
    conn(p).sendall(SP_REQ + struct.pack(">Q", 1 << 62))
    conn(p).sendall(SP_REQ)
    for _ in range(8):
        conn(p)

s = tls_conn()
s.sendall(SP_REQ)
recv_exact(s, 8)  # the node's SP header
s.sendall(struct.pack(">Q", 1 << 62) + os.urandom(100))

s = tls_conn()
s.sendall(SP_REQ)
recv_exact(s, 8)
body = b"\x80\x00\x00\x01" + b"\xa1\x61\x76\xff\xfe\x00\x13\x37"
s.sendall(struct.pack(">Q", len(body)) + body)
n = struct.unpack(">Q", recv_exact(s, 8))[0]
ans = recv_exact(s, n)
if ans[:4] != b"\x80\x00\x00\x01" or b"CBOR" not in ans:
    print("junk_peer: unexpected answer to a bad request: %r" % ans[:200])
    sys.exit(1)
print("junk_peer: a bad request was answered: %r" % ans[4:120])

s = tls_conn()
s.sendall(SP_REQ)
recv_exact(s, 8)
s.sendall(struct.pack(">Q", 4096) + b"\x80\x00\x00\x02\xa2")

tls_conn().sendall(b"GET / HTTP/1.0\r\n\r\n")

sys.stdout.flush()
open(ready, "w").close()
time.sleep(120)
