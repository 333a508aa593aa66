"""A real SMTP server (aiosmtpd) on loopback for Quire's email tests.

Usage: smtp_sink.py PORT DIR

Every message it accepts is written to DIR/NNNNN.eml. While a file DIR/slow
exists, it waits that many seconds (the file's content) before accepting
each recipient, before any message content is sent, so a test can kill a
sender in the middle of a delivery without a message being stored.
"""

import asyncio
import itertools
import pathlib
import sys
import threading

from aiosmtpd.controller import Controller


class Sink:
    def __init__(self, folder: pathlib.Path):
        self.folder = folder
        self.numbers = itertools.count(1)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        slow = self.folder / "slow"
        if slow.exists():
            await asyncio.sleep(float(slow.read_text() or "0"))
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        number = next(self.numbers)
        partial = self.folder / f".{number}.partial"
        partial.write_bytes(envelope.original_content or envelope.content)
        partial.rename(self.folder / f"{number:05}.eml")
        return "250 Message accepted for delivery"


def main() -> None:
    port, folder = int(sys.argv[1]), pathlib.Path(sys.argv[2])
    folder.mkdir(parents=True, exist_ok=True)
    controller = Controller(Sink(folder), hostname="127.0.0.1", port=port)
    controller.start()
    print("ready", flush=True)
    try:
        threading.Event().wait()
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
