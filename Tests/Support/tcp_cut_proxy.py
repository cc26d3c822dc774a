#!/usr/bin/env python3
"""A TCP proxy a test can cut: a partition between one process and its database.

    tcp_cut_proxy.py TARGET_HOST TARGET_PORT

Listens on 127.0.0.1 on a free port and prints "listening PORT" once ready. SIGUSR1
cuts: every proxied connection is closed at once and new ones are closed as they
arrive, as a dead network path with a firewall answering would look. SIGUSR2 heals.
"""
import asyncio
import signal
import sys


async def main() -> None:
    target_host, target_port = sys.argv[1], int(sys.argv[2])
    cut = False
    open_writers: set[asyncio.StreamWriter] = set()

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    async def handle(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        if cut:
            client_writer.close()
            return
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(target_host, target_port)
        except OSError:
            client_writer.close()
            return
        open_writers.update((client_writer, upstream_writer))
        await asyncio.gather(pipe(client_reader, upstream_writer), pipe(upstream_reader, client_writer))
        open_writers.discard(client_writer)
        open_writers.discard(upstream_writer)

    def set_cut(value: bool) -> None:
        nonlocal cut
        cut = value
        if value:
            for writer in list(open_writers):
                writer.transport.abort()
            open_writers.clear()
        print("cut" if value else "healed", flush=True)

    loop = asyncio.get_running_loop()
    # A child inherits its parent's signal mask: a test process may block these.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGUSR1, signal.SIGUSR2, signal.SIGTERM})
    loop.add_signal_handler(signal.SIGUSR1, set_cut, True)
    loop.add_signal_handler(signal.SIGUSR2, set_cut, False)
    loop.add_signal_handler(signal.SIGTERM, loop.stop)
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    print(f"listening {server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except RuntimeError:
        pass  # the loop stopped on SIGTERM
