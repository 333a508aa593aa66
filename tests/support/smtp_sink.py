"""A real SMTP server (aiosmtpd) on loopback for Quire's email tests.

Usage: smtp_sink.py PORT DIR

Every message it accepts is written to DIR/NNNNN.eml, with an
`X-Received-At` header (seconds since the epoch) on top. While a file
DIR/slow exists, it waits that many seconds (the file's content) before
accepting each recipient, before any message content is sent, so a test can
kill a sender in the middle of a delivery without a message being stored.

DIR/refuse lists recipients to refuse, one a line: `ADDRESS CODE [TIMES]`,
e.g. `gone@example.com 550` (always) or `busy@example.com 451 1` (the first
time only): the SMTP answer to their RCPT.
"""

import asyncio
import itertools
import pathlib
import sys
import threading
import time

from aiosmtpd.controller import Controller


class Sink:
    def __init__(self, folder: pathlib.Path):
        self.folder = folder
        self.numbers = itertools.count(1)
        self.refused = {}

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        slow = self.folder / "slow"
        if slow.exists():
            await asyncio.sleep(float(slow.read_text() or "0"))
        refused = self.refusal(address)
        if refused is not None:
            return refused
        envelope.rcpt_tos.append(address)
        return "250 OK"

    def refusal(self, address):
        """The answer DIR/refuse gives `address`, if any, counting it."""
        rules = self.folder / "refuse"
        if not rules.exists():
            return None
        for line in rules.read_text().splitlines():
            parts = line.split()
            if len(parts) < 2 or parts[0].lower() != address.lower():
                continue
            times = int(parts[2]) if len(parts) > 2 else None
            seen = self.refused.get(address, 0)
            if times is not None and seen >= times:
                return None
            self.refused[address] = seen + 1
            code = parts[1]
            return f"{code} {'4.2.1 try again later' if code.startswith('4') else '5.1.1 no such mailbox'}"
        return None

    async def handle_DATA(self, server, session, envelope):
        number = next(self.numbers)
        partial = self.folder / f".{number}.partial"
        stamp = f"X-Received-At: {time.time():.6f}\r\n".encode()
        partial.write_bytes(stamp + (envelope.original_content or envelope.content))
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
