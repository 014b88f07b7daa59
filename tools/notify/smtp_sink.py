"""A real SMTP server on loopback for siaga's tests (aiosmtpd).

Usage: python3 smtp_sink.py PORT OUTFILE

Every message received is parsed with Python's email package and appended to OUTFILE as
one JSON line: {"from", "to", "subject", "headers", "text", "html"}. Prints "ready" once
it accepts connections. Runs until killed.
"""

import asyncio
import email
import email.policy
import json
import sys

from aiosmtpd.controller import Controller


class Sink:
    def __init__(self, path):
        self.out = open(path, "a", encoding="utf-8")

    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        text = msg.get_body(preferencelist=("plain",))
        html = msg.get_body(preferencelist=("html",))
        record = {
            "from": envelope.mail_from,
            "to": list(envelope.rcpt_tos),
            "subject": str(msg["subject"] or ""),
            "headers": {k: str(v) for k, v in msg.items()},
            "text": text.get_content() if text is not None else "",
            "html": html.get_content() if html is not None else "",
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
