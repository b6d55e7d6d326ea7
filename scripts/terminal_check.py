#!/usr/bin/env python3
"""`tandem chat` tried as a person uses it, through a pseudo-terminal (Python's pty) on the default
model: line editing with the arrow keys and Home/End, history with Up, multi-line input (\"\"\"
blocks and a trailing backslash), /set, /save, /load, /help, tokens per second after each reply,
Ctrl-C stopping a long reply and returning to the prompt (the program lives on), Ctrl-C on a line
clearing it, Ctrl-C twice at an empty prompt and Ctrl-D exiting; then stdin that is not a terminal.

    scripts/terminal_check.py --binary .build/release/tandem
"""
import argparse
import fcntl
import json
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import tempfile
import termios
import time

PASSED = []
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
STATS = re.compile(r"\[(\d+) tokens · ([\d.]+) tok/s · first token (\d+) ms")


def check(condition, message):
    if not condition:
        print(f"FAIL: {message}", file=sys.stderr)
        raise SystemExit(1)
    PASSED.append(message)
    print(f"ok: {message}", flush=True)


class Chat:
    """`tandem chat` on a pseudo-terminal of 100 x 30."""

    def __init__(self, binary, arguments):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            os.environ["TERM"] = "xterm-256color"
            os.execv(binary, [binary, "chat", *arguments])
        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
        self.output = ""
        self.mark = 0
        self.status = None

    def read(self, timeout):
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            return False
        try:
            data = os.read(self.fd, 65536)
        except OSError:
            data = b""
        if not data:
            return None
        self.output += data.decode("utf-8", errors="replace")
        return True

    def stripped(self):
        return ANSI.sub("", self.output)

    def skip(self):
        """Moves the mark to the end of what was read."""
        self.mark = len(self.stripped())

    def expect(self, pattern, timeout=60, what=None):
        """Waits for `pattern` (a regex) in the output after the mark (ANSI sequences removed); moves the mark past it."""
        deadline = time.time() + timeout
        regex = re.compile(pattern)
        while True:
            match = regex.search(self.stripped(), self.mark)
            if match:
                self.mark = match.end()
                return match
            left = deadline - time.time()
            if left <= 0 or (self.read(min(left, 0.5)) is None and not self.alive()):
                tail = self.stripped()[-800:]
                check(False, f"{what or pattern!r} within {timeout} s; the terminal showed:\n{tail}")

    def send(self, text):
        os.write(self.fd, text.encode())

    def line(self, text):
        self.send(text + "\r")

    def alive(self):
        if self.status is not None:
            return False
        pid, status = os.waitpid(self.pid, os.WNOHANG)
        if pid == 0:
            return True
        self.status = status
        return False

    def wait_exit(self, timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            self.read(0.2)
            if not self.alive():
                return os.waitstatus_to_exitcode(self.status)
        return None

    def kill(self):
        if self.alive():
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        os.close(self.fd)


def reply(chat, timeout=120):
    """Waits for a reply's statistics line and the next prompt; returns (tokens, tok/s, ms)."""
    match = chat.expect(STATS.pattern, timeout, "a reply with its statistics line")
    chat.expect(r">>> ", 10, "the prompt after the reply")
    return int(match.group(1)), float(match.group(2)), int(match.group(3))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", required=True)
    args = parser.parse_args()
    common = ["--temperature", "0", "--max-tokens", "48", "--max-seqs", "2", "--kv-cache-tokens", "4096"]
    with tempfile.TemporaryDirectory() as tmp:
        saved = os.path.join(tmp, "chat.json")
        chat = Chat(args.binary, common)
        try:
            chat.expect(r"/help lists the commands", 300, "the greeting")
            chat.expect(r">>> ", 10, "the prompt")

            # Line editing: typo fixed with Home, Right and End.
            chat.send("Sy hi")
            chat.send("\x1b[H\x1b[C")  # Home, Right
            chat.send("a")
            chat.send("\x1b[F")  # End
            chat.send(" please")
            chat.expect(r"Say hi please", 10, "the edited line redrawn")
            chat.send("\r")
            tokens, rate, first = reply(chat)
            check(tokens >= 1 and rate > 0 and first >= 0, f"a reply streams, then tokens per second: {tokens} tokens, {rate} tok/s, {first} ms")

            # Up recalls the last line.
            chat.send("\x1b[A")
            chat.expect(r"Say hi please", 10, "Up recalls the previous line")
            chat.send("\r")
            reply(chat)

            # Commands.
            chat.line("/help")
            chat.expect(r"/save FILE", 10, "/help lists /save")
            chat.line("/set temperature 0.5")
            chat.expect(r"temperature 0\.5", 10, "/set temperature 0.5 is confirmed")
            chat.line("/set top_p 2")
            chat.expect(r"top_p|top-p", 10, "/set top_p 2 is refused with the reason")
            chat.line("/set bogus 1")
            chat.expect(r"unknown setting 'bogus'", 10, "an unknown setting is named")
            chat.line("/set temperature 0")
            chat.expect(r"temperature 0\.0", 10, "back to greedy")
            check(chat.alive(), "commands keep the chat running")

            # Multi-line input.
            chat.line('"""')
            chat.expect(r"\.\.\. ", 10, "a continuation prompt inside a \"\"\" block")
            chat.line("line one")
            chat.line("line two")
            chat.line('"""')
            reply(chat)
            chat.line("first\\")
            chat.expect(r"\.\.\. ", 10, "a continuation prompt after a trailing backslash")
            chat.line("second")
            reply(chat)

            # /save writes what was said.
            chat.line(f"/save {saved}")
            chat.expect(r"saved (\d+) messages", 10, "/save")
            with open(saved) as file:
                transcript = json.load(file)
            users = [m["content"] for m in transcript["messages"] if m["role"] == "user"]
            assistants = [m["content"] for m in transcript["messages"] if m["role"] == "assistant"]
            check(users == ["Say hi please", "Say hi please", "line one\nline two", "first\nsecond"],
                  f"/save holds the edited, recalled and multi-line messages: {users}")
            check(len(assistants) == 4 and all(assistants), "and every reply")
            chat.line("/reset")
            chat.expect(r"conversation cleared", 10, "/reset")

            # Ctrl-C stops a long reply and returns to the prompt.
            chat.line("/set max_tokens 3000")
            chat.expect(r"max_tokens 3000", 10, "/set max_tokens")
            chat.line("Write a very long story about a dragon and a knight, with ten chapters and many details.")
            chat.expect(r"details\.\s*\n", 10, "the message sent")
            begin = chat.mark

            def reply_so_far():
                # After the message's last echo (the line editor redraws the line as it submits it):
                # only the reply's own text counts, so Ctrl-C goes to a reply that is streaming.
                text = chat.stripped()
                return text[max(text.rfind("details."), begin):]
            deadline = time.time() + 120
            while len(reply_so_far()) < 300 and time.time() < deadline and not STATS.search(chat.stripped(), begin):
                chat.read(0.2)
            check(len(reply_so_far()) >= 300 and not STATS.search(chat.stripped(), begin),
                  "the long reply is streaming: " + repr(chat.stripped()[begin - 200:][-600:]))
            chat.skip()
            stop_time = time.time()
            chat.send("\x03")
            match = chat.expect(r"\[(\d+) tokens[^\]]*stopped\]", 10, "Ctrl-C stops the reply")
            chat.expect(r">>> ", 5, "and returns to the prompt")
            check(time.time() - stop_time < 5 and int(match.group(1)) < 3000,
                  f"the reply stopped at once ({match.group(1)} of 3000 tokens, {time.time() - stop_time:.1f} s)")
            check(chat.alive(), "the program lives on after Ctrl-C")
            chat.line("/set max_tokens 48")
            chat.expect(r"max_tokens 48", 10, "/set max_tokens 48")
            chat.line("What is 2+2?")
            reply(chat)
            check(True, "a message after a stopped reply gets its reply")

            # /load brings it back.
            chat.line(f"/load {saved}")
            chat.expect(r"loaded 8 messages", 10, "/load reads the conversation back")
            chat.expect(r"you: line one", 10, "and shows it")
            chat.expect(r">>> ", 10, "the prompt after /load")

            # Ctrl-C on a line with text clears it; twice at an empty prompt exits.
            chat.send("some text")
            chat.send("\x03")
            chat.expect(r"some text\^C", 10, "Ctrl-C on a line clears it")
            chat.expect(r">>> ", 5, "the prompt again")
            check(chat.alive(), "the program lives on after Ctrl-C at the prompt")
            chat.send("\x03")
            chat.expect(r"Ctrl-C again", 10, "Ctrl-C at an empty prompt says how to exit")
            chat.expect(r">>> ", 5, "the prompt after the hint")
            chat.send("\x03")
            code = chat.wait_exit()
            check(code == 0, f"Ctrl-C twice at an empty prompt exits (status {code})")
        finally:
            chat.kill()

        chat = Chat(args.binary, common)
        try:
            chat.expect(r">>> ", 300, "the prompt")
            chat.send("\x04")
            code = chat.wait_exit()
            check(code == 0, f"Ctrl-D exits (status {code})")
        finally:
            chat.kill()

    # Standard input that is not a terminal: each line is a message, the replies go to stdout.
    result = subprocess.run([args.binary, "chat", *common], input="Hello!\nWhat is the capital of France?\n",
                            capture_output=True, text=True, timeout=300)
    check(result.returncode == 0, f"piped input works (status {result.returncode}): {result.stderr[-300:]}")
    replies = [line for line in result.stdout.split("\n") if line.strip()]
    check(len(replies) >= 2 and ">>>" not in result.stdout, f"two replies on stdout, no prompt: {result.stdout[:200]!r}")
    check(len(STATS.findall(result.stderr)) == 2, "statistics on stderr")
    print(f"terminal check: {len(PASSED)} checks passed")


if __name__ == "__main__":
    main()
