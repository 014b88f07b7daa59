"""A real SMTP server on loopback for siaga's tests (aiosmtpd).

Usage: python3 smtp_sink.py PORT OUTFILE

Every message received is parsed with Python's email package and appended to OUTFILE as
one JSON line: {"from", "to", "subject", "headers", "text", "html"}. Prints "ready" once
it accepts connections. Runs until killed.
"""

import asyncio
import email
import email.header
import json
import sys

from aiosmtpd.controller import Controller


class Sink:
    def __init__(self, path):
        self.out = open(path, "a", encoding="utf-8")

    async def handle_DATA(self, server, session, envelope):
        # compat32 parsing is several times faster than policy.default (the 10k fan-out).
        msg = email.message_from_bytes(envelope.content)
        parts = {"text/plain": "", "text/html": ""}
        for part in msg.walk():
            kind = part.get_content_type()
            if kind in parts and not parts[kind]:
                raw = part.get_payload(decode=True) or b""
                parts[kind] = raw.decode(part.get_content_charset() or "utf-8", "replace")
        def decode(value):
            unfolded = str(value).replace("\r\n", "").replace("\n", "")
            return str(email.header.make_header(email.header.decode_header(unfolded)))

        record = {
            "from": envelope.mail_from,
            "to": list(envelope.rcpt_tos),
            "subject": decode(msg["subject"] or ""),
            "headers": {k: decode(v) for k, v in msg.items()},
            "text": parts["text/plain"],
            "html": parts["text/html"],
        }
        self.out.write(json.dumps(record) + "\n")
        self.out.flush()
        return "250 Message accepted for delivery"


def main():
    port, path = int(sys.argv[1]), sys.argv[2]
    controller = Controller(Sink(path), hostname="127.0.0.1", port=port)
    controller.start()
    print("ready", flush=True)
    try:
        asyncio.run(asyncio.Event().wait())
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
