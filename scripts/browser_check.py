#!/usr/bin/env python3
"""The chat page tried as a person uses it: headless Chromium (over WebDriver, with Debian's
`chromium` and `chromium-driver`) against a real `tandem serve` on the default model.

Checks: the page's security headers; it loads without console errors and shows the model's name;
a message typed with the keyboard streams a reply (tok/s and time to first token under it); the
status line summarizes /metrics; the conversation survives a reload; Stop ends a long reply (and the
server frees the request); a server error is shown (max_tokens beyond the context); markdown from
imported conversations is rendered safely (HTML in the text stays text) with highlighted code and
a copy button; edit-and-regenerate, rename and delete; with `--api-key`, the page asks for the key, a
wrong key is reported and the right one works; a server that went away is reported. Saves
screenshots (desktop, and a phone in dark mode) when --screenshots DIR is given.

    scripts/browser_check.py --binary .build/release/tandem [--port 18140] [--screenshots docs]

Without a browser (or selenium) it skips, unless CI=true, where that is a failure.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

PASSED = []


def check(condition, message):
    if not condition:
        print(f"FAIL: {message}", file=sys.stderr)
        raise SystemExit(1)
    PASSED.append(message)
    print(f"ok: {message}", flush=True)


def unavailable(reason):
    if os.environ.get("CI") == "true":
        print(f"FAIL: the browser test cannot run: {reason}", file=sys.stderr)
        raise SystemExit(1)
    print(f"SKIP: the browser test cannot run: {reason}")
    raise SystemExit(0)


class Server:
    """A `tandem serve` child process on a loopback port."""

    def __init__(self, binary, port, extra, log_path):
        self.port = port
        self.base = f"http://127.0.0.1:{port}"
        self.log = open(log_path, "w")
        self.process = subprocess.Popen(
            [binary, "serve", "--port", str(port), "--max-seqs", "4", "--kv-cache-tokens", "8192", *extra],
            stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 300
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"tandem serve exited early; see {log_path}")
            try:
                if urllib.request.urlopen(self.base + "/health", timeout=2).status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.3)
        self.stop()
        raise SystemExit("tandem serve did not become healthy")

    def metric(self, name):
        text = urllib.request.urlopen(self.base + "/metrics", timeout=5).read().decode()
        for line in text.splitlines():
            if line.startswith(name + "{") or line.startswith(name + " "):
                return float(line.rsplit(" ", 1)[1])
        return None

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=40)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


def make_driver(width, height, phone=False):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    chromedriver = shutil.which("chromedriver")
    if not chromium or not chromedriver:
        unavailable("chromium or chromedriver is not installed (Debian: apt-get install chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     "--hide-scrollbars", f"--window-size={width},{height}", "--lang=en-US"]:
        options.add_argument(argument)
    if phone:
        options.add_experimental_option("mobileEmulation", {
            "deviceMetrics": {"width": width, "height": height, "pixelRatio": 1.0, "touch": True},
            "userAgent": "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Mobile"})
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    try:
        driver = webdriver.Chrome(options=options, service=Service(executable_path=chromedriver))
    except Exception as error:  # noqa: BLE001 - any failure to start is "cannot run"
        unavailable(f"chromium did not start: {error}")
    if not phone:
        # The viewport itself at this size (the window's size would include the browser's frame).
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                               {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})
    return driver


def console_errors(driver):
    return [entry for entry in driver.get_log("browser") if entry.get("level") == "SEVERE"]


def wait(driver, condition, message, timeout=60):
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait
    try:
        return WebDriverWait(driver, timeout, poll_frequency=0.05, ignored_exceptions=[StaleElementReferenceException]).until(
            lambda d: condition(d))
    except Exception as error:  # noqa: BLE001
        try:
            shown = driver.execute_script("const m = document.getElementById('messages'); return m ? m.innerText : '';")
        except Exception:  # noqa: BLE001 - the page itself may be gone
            shown = "(the page could not be read)"
        print(f"the conversation on the page at the time-out ends with: {shown[-600:]!r}", file=sys.stderr)
        check(False, f"{message} (timed out: {type(error).__name__})")


def find(driver, selector):
    from selenium.webdriver.common.by import By
    return driver.find_element(By.CSS_SELECTOR, selector)


def find_all(driver, selector):
    from selenium.webdriver.common.by import By
    return driver.find_elements(By.CSS_SELECTOR, selector)


def js(driver, script, *args):
    return driver.execute_script(script, *args)


WATCH = """
window.__lengths = [];
new MutationObserver(() => {
  const bodies = document.querySelectorAll('#messages .msg.assistant .body');
  const last = bodies[bodies.length - 1];
  if (last) window.__lengths.push(last.textContent.length);
}).observe(document.getElementById('messages'), {childList: true, subtree: true, characterData: true});
"""


def idle(driver):
    """Whether no reply is streaming: the Send button is back."""
    return find(driver, "#send").is_displayed() and not find_all(driver, "#messages .msg.pending")


def send_message(driver, text):
    from selenium.webdriver.common.keys import Keys
    box = find(driver, "#input")
    box.click()
    box.send_keys(text)
    box.send_keys(Keys.ENTER)


def assistant_texts(driver):
    # Read in one script: a streaming reply replaces its elements, which would go stale between calls.
    return js(driver, "return [...document.querySelectorAll('#messages .msg.assistant .body')].map((e) => e.innerText);")


def set_setting(driver, field, value):
    find(driver, "#open-settings").click()
    wait(driver, lambda d: find(d, "#settings").get_attribute("open") is not None, "the settings dialog opens", 5)
    box = find(driver, field)
    box.clear()
    if value:
        box.send_keys(value)
    find(driver, "#settings-save").click()
    wait(driver, lambda d: find(d, "#settings").get_attribute("open") is None, "the settings dialog closes", 5)


def check_headers(server):
    response = urllib.request.urlopen(server.base + "/", timeout=10)
    policy = response.headers.get("Content-Security-Policy", "")
    check("script-src 'self'" in policy and "unsafe-inline" not in policy and "unsafe-eval" not in policy,
          f"/ has a Content-Security-Policy without inline or foreign scripts: {policy!r}")
    check(response.headers.get("X-Content-Type-Options") == "nosniff", "/ has X-Content-Type-Options: nosniff")
    check(response.headers.get("Content-Type", "").startswith("text/html"), "/ is HTML")


def main_conversation(driver, server, model_name, screenshots):
    driver.get(server.base + "/")
    wait(driver, lambda d: find(d, "#model-name").text == model_name, f"the header shows the model's name {model_name!r}", 30)
    check(driver.switch_to.active_element.get_attribute("id") == "input", "the message box has the keyboard focus on load")
    wait(driver, lambda d: "KV" in find(d, "#status").text and "running" in find(d, "#status").text,
         "the status line summarizes /metrics (running, waiting, KV)", 10)
    set_setting(driver, "#set-temperature", "0")
    set_setting(driver, "#set-max-tokens", "300")
    js(driver, WATCH)

    send_message(driver, "Write a short Python function that adds two numbers, in a code block.")
    wait(driver, lambda d: find(d, "#stop").is_displayed() or idle(d), "Stop shows while the reply streams", 30)
    wait(driver, lambda d: idle(d) and any(assistant_texts(d)), "the reply arrives", 120)
    lengths = js(driver, "return window.__lengths;")
    growing = sorted(set(length for length in lengths if length > 0))
    check(len(growing) >= 3, f"the reply streamed in pieces (the text grew {len(growing)} times)")
    reply = assistant_texts(driver)[-1]
    meta = find_all(driver, "#messages .msg.assistant .meta")[-1].text
    check("tok/s" in meta and "first token" in meta and "tokens" in meta, f"tok/s and time to first token under the reply: {meta!r}")
    errors = console_errors(driver)
    check(not errors, f"no console errors while loading and chatting: {errors}")
    title = find(driver, "#conversations li.current .open").text
    check(title.startswith("Write a short Python function"), f"the conversation is listed under its first message: {title!r}")
    if screenshots:
        driver.save_screenshot(os.path.join(screenshots, "chat-desktop.png"))

    driver.refresh()
    wait(driver, lambda d: len(assistant_texts(d)) == 1, "after a reload the conversation is shown again", 20)
    check(assistant_texts(driver)[-1] == reply, "the reply survives a reload unchanged")
    user = find_all(driver, "#messages .msg.user .body")
    check(len(user) == 1 and user[0].text.startswith("Write a short Python function"), "the user's message survives a reload")
    check("tok/s" in find_all(driver, "#messages .msg.assistant .meta")[-1].text, "the reply's statistics survive a reload")
    return reply


def stop_long_reply(driver, server):
    """Stop ends a long reply: the page stops, keeps the text, and the server frees the request."""
    set_setting(driver, "#set-max-tokens", "")
    find(driver, "#new-chat").click()
    prompts = ["Write a very long story about a dragon and a knight, with ten chapters and many details.",
               "List one hundred different fruits, one per line, each with a long description.",
               "Explain in great detail, step by step and at length, how a computer works."]
    for attempt, prompt in enumerate(prompts):
        send_message(driver, prompt)
        wait(driver, lambda d: idle(d) or len((assistant_texts(d) or [""])[-1]) > 80, "the long reply starts", 120)
        if idle(driver):
            print(f"note: attempt {attempt + 1}: the reply ended by itself before Stop; trying a longer prompt")
            continue
        find(driver, "#stop").click()
        wait(driver, idle, "Stop ends the reply: the Send button is back", 5)
        text = assistant_texts(driver)[-1]
        check(len(text) > 80, "the stopped reply keeps what arrived")
        time.sleep(1.0)
        check(assistant_texts(driver)[-1] == text, "nothing arrives after Stop")
        meta = find_all(driver, "#messages .msg.assistant .meta")[-1].text
        check("stopped" in meta, f"the reply is marked as stopped: {meta!r}")
        deadline = time.time() + 5
        while time.time() < deadline and server.metric("vllm:num_requests_running") != 0:
            time.sleep(0.1)
        check(server.metric("vllm:num_requests_running") == 0, "the server stopped generating (running requests: 0)")

        # With the keyboard: Esc in the message box stops a reply too.
        from selenium.webdriver.common.keys import Keys
        count = len(assistant_texts(driver))
        send_message(driver, prompt)
        wait(driver, lambda d: len(assistant_texts(d)) > count and (idle(d) or len(assistant_texts(d)[-1]) > 80),
             "a second long reply starts", 120)
        if not idle(driver):
            driver.switch_to.active_element.send_keys(Keys.ESCAPE)
            wait(driver, idle, "Esc stops the reply", 5)
            check("stopped" in find_all(driver, "#messages .msg.assistant .meta")[-1].text, "Esc stops a reply")
        return
    check(False, "a reply long enough to stop")


def server_error(driver):
    find(driver, "#new-chat").click()
    set_setting(driver, "#set-max-tokens", "1000000")
    send_message(driver, "Hello!")
    wait(driver, lambda d: find_all(d, "#messages .msg.error") and idle(d), "a server error is shown in the conversation", 30)
    text = find_all(driver, "#messages .msg.error .body")[-1].text
    check("400" in text and "max_tokens" in text, f"the error shows the status and the server's message: {text!r}")
    set_setting(driver, "#set-max-tokens", "")


IMPORTED = {
    "format": "tandem-chat", "version": 1,
    "conversations": [{
        "id": "imported-1", "title": "Markdown <b>check</b>", "created": 1, "updated": 1,
        "messages": [
            {"role": "user", "content": "Show me <img src=x onerror=\"window.__pwned=1\">"},
            {"role": "assistant", "content": (
                "Here is **bold**, *emphasis*, `inline <code>` and a [link](https://example.com).\n\n"
                "<img src=x onerror=\"window.__pwned=1\"><script>window.__pwned=2</script>\n\n"
                "- one\n- two\n  - nested\n\n1. first\n2. second\n\n"
                "```python\ndef add(a, b):\n    # adds\n    label = \"<b>\"\n    return a + b\n```\n")},
        ],
    }, {
        "id": "imported-2", "title": "Reasoning", "created": 2, "updated": 2,
        "messages": [
            {"role": "user", "content": "Why?"},
            {"role": "assistant", "content": "<think>Let me think about **this**.</think>Because."},
        ],
    }],
}


def markdown_and_actions(driver, tmp):
    path = os.path.join(tmp, "import.json")
    with open(path, "w") as file:
        json.dump(IMPORTED, file)
    js(driver, "document.getElementById('import-file').hidden = false;")
    find(driver, "#import-file").send_keys(path)
    js(driver, "document.getElementById('import-file').hidden = true;")
    wait(driver, lambda d: find(d, "#conversations li.current .open").text == "Markdown <b>check</b>",
         "an exported-format JSON file imports and opens its first conversation", 10)
    next(e for e in find_all(driver, "#conversations .open") if e.text == "Reasoning").click()
    wait(driver, lambda d: find(d, "#conversations li.current .open").text == "Reasoning", "another conversation opens", 5)
    thoughts = find_all(driver, "#messages .msg.assistant details.thoughts")
    check(len(thoughts) == 1 and thoughts[0].get_attribute("open") is None and "Because." in assistant_texts(driver)[-1]
          and "<think>" not in assistant_texts(driver)[-1], "a reasoning model's <think> block is folded away under 'Thoughts'")
    next(e for e in find_all(driver, "#conversations .open") if e.text == "Markdown <b>check</b>").click()
    wait(driver, lambda d: find(d, "#conversations li.current .open").text == "Markdown <b>check</b>", "the other one opens", 5)
    body = find_all(driver, "#messages .msg.assistant .body")[-1]
    check(not find_all(driver, "#messages img") and not find_all(driver, "#messages script"),
          "HTML in messages stays text: no <img> or <script> element")
    check(js(driver, "return window.__pwned === undefined;"), "no script from a message ran")
    check("<img src=x" in body.text and "<script>" in body.text, "the HTML is shown as text")
    check(find_all(driver, "#messages .msg.assistant strong")[0].text == "bold", "**bold** renders")
    check(find_all(driver, "#messages .msg.assistant em")[0].text == "emphasis", "*emphasis* renders")
    check(find_all(driver, "#messages .msg.assistant p code")[0].text == "inline <code>", "inline code renders as text")
    link = find_all(driver, "#messages .msg.assistant a")[0]
    check(link.get_attribute("href") == "https://example.com/" and link.get_attribute("rel") == "noopener noreferrer",
          "links open safely")
    check(len(find_all(driver, "#messages .msg.assistant ul > li")) == 3 and find_all(driver, "#messages .msg.assistant ul ul li"),
          "a nested list renders")
    check(len(find_all(driver, "#messages .msg.assistant ol > li")) == 2, "an ordered list renders")
    keywords = [e.text for e in find_all(driver, "#messages .code .tok-kw")]
    comments = [e.text for e in find_all(driver, "#messages .code .tok-com")]
    strings = [e.text for e in find_all(driver, "#messages .code .tok-str")]
    check("def" in keywords and "return" in keywords, f"code is highlighted: keywords {keywords}")
    check("# adds" in comments and '"<b>"' in strings, f"comments and strings are highlighted: {comments} {strings}")
    check(find(driver, "#messages .code-head span").text == "python", "the code block names its language")
    copy = find(driver, "#messages .code .copy")
    copy.click()
    wait(driver, lambda d: find(d, "#messages .code .copy").text in ("Copied", "Copy failed"), "the copy button answers", 5)
    check(find(driver, "#messages .code .copy").text == "Copied", "the copy button copies the code")

    # Export: the file offered for download holds the conversations (the blob is caught before the click).
    js(driver, """
      window.__exported = null;
      const create = URL.createObjectURL.bind(URL);
      URL.createObjectURL = (blob) => { blob.text().then((text) => { window.__exported = text; }); return create(blob); };
      HTMLAnchorElement.prototype.click = function () { window.__download = this.download; };
    """)
    find(driver, "#export").click()
    exported = wait(driver, lambda d: js(d, "return window.__exported;"), "Export offers a file", 5)
    data = json.loads(exported)
    titles = [c["title"] for c in data["conversations"]]
    check(data["format"] == "tandem-chat" and "Markdown <b>check</b>" in titles and len(titles) >= 3,
          f"the export holds every conversation: {titles}")
    check(js(driver, "return window.__download;").startswith("tandem-conversations-"), "under a dated file name")

    # Edit the first message and regenerate from there.
    count = len(find_all(driver, "#conversations li"))
    next(b for b in find_all(driver, "#messages .msg.user .actions button") if b.text == "Edit").click()
    from selenium.webdriver.common.keys import Keys
    area = find(driver, "#messages .edit-box textarea")
    area.send_keys(Keys.CONTROL, "a")
    area.send_keys("Say hello in French.")
    area.send_keys(Keys.ENTER)
    wait(driver, lambda d: idle(d) and len(find_all(d, "#messages .msg")) == 2 and any(assistant_texts(d)),
         "editing a message regenerates the reply from there", 120)
    check(find(driver, "#messages .msg.user .body").text == "Say hello in French.", "the edited message replaces the old one")
    check("<img" not in assistant_texts(driver)[-1], "the old reply is gone")

    # Rename and delete from the list, with the keyboard.
    next(b for b in find_all(driver, "#conversations li.current button") if b.text == "Rename").click()
    field = find(driver, "#conversations li input")
    field.send_keys(Keys.CONTROL, "a")
    field.send_keys("Renamed chat", Keys.ENTER)
    wait(driver, lambda d: find(d, "#conversations li.current .open").text == "Renamed chat", "a conversation can be renamed", 5)
    remove = next(b for b in find_all(driver, "#conversations li.current button") if b.text == "Delete")
    remove.click()
    next(b for b in find_all(driver, "#conversations li.current button") if b.text == "Sure?").click()
    wait(driver, lambda d: len(find_all(d, "#conversations li")) == count - 1, "a conversation can be deleted", 5)
    check("Renamed chat" not in [e.text for e in find_all(driver, "#conversations .open")], "the deleted one is gone")


def phone_dark(binary_server, screenshots):
    driver = make_driver(390, 760, phone=True)
    try:
        driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": [{"name": "prefers-color-scheme", "value": "dark"}]})
        driver.get(binary_server.base + "/")
        wait(driver, lambda d: find(d, "#model-name").text not in ("", "Tandem"), "the phone-sized page loads", 30)
        background = js(driver, "return getComputedStyle(document.body).backgroundColor;")
        check(background == "rgb(21, 24, 28)", f"dark mode follows prefers-color-scheme: {background}")
        check(not find(driver, "#sidebar").is_displayed() or js(
            driver, "return document.getElementById('sidebar').getBoundingClientRect().right <= 0;"),
            "on a phone the conversation list is hidden")
        width = js(driver, "return document.documentElement.scrollWidth;")
        check(width <= 390, f"nothing overflows the phone's width ({width} px)")
        # A fresh browser has no settings: without a cap a sampled reply may run to the context's end.
        set_setting(driver, "#set-temperature", "0")
        set_setting(driver, "#set-max-tokens", "64")
        send_message(driver, "What is the capital of France? Answer in one sentence.")
        wait(driver, lambda d: idle(d) and any(assistant_texts(d)), "a reply on the phone", 120)
        if screenshots:
            driver.save_screenshot(os.path.join(screenshots, "chat-phone-dark.png"))
        find(driver, "#toggle-sidebar").click()
        wait(driver, lambda d: js(d, "return document.getElementById('sidebar').getBoundingClientRect().left >= 0;"),
             "the menu button shows the conversation list", 5)
        errors = console_errors(driver)
        check(not errors, f"no console errors on the phone: {errors}")
    finally:
        driver.quit()


def api_key(binary, port, log_dir):
    server = Server(binary, port, ["--api-key", "letmein"], os.path.join(log_dir, "browser-check-key.log"))
    driver = make_driver(1000, 700)
    try:
        driver.get(server.base + "/")
        wait(driver, lambda d: find(d, "#key-dialog").get_attribute("open") is not None,
             "with --api-key the page loads without the key and asks for it", 20)
        check("needs an API key" in find(driver, "#key-reason").text, "the dialog says why")
        find(driver, "#key-input").send_keys("wrong-key")
        find(driver, "#key-save").click()
        wait(driver, lambda d: "refused" in find(d, "#key-reason").text and find(d, "#key-dialog").get_attribute("open") is not None,
             "a wrong key is reported", 10)
        check("invalid or missing API key" in find(driver, "#key-reason").text, "with the server's message")
        box = find(driver, "#key-input")
        box.clear()
        box.send_keys("letmein")
        find(driver, "#key-save").click()
        wait(driver, lambda d: find(d, "#model-name").text not in ("", "Tandem"), "the right key opens the API", 10)
        check(js(driver, "return localStorage.getItem('tandem.apiKey');") == "letmein", "the key is kept in the browser")
        driver.refresh()
        wait(driver, lambda d: find(d, "#model-name").text not in ("", "Tandem"), "after a reload the kept key is used", 10)
        check(find(driver, "#key-dialog").get_attribute("open") is None, "and not asked for again")
        set_setting(driver, "#set-temperature", "0")
        set_setting(driver, "#set-max-tokens", "64")
        send_message(driver, "Hi!")
        wait(driver, lambda d: idle(d) and any(assistant_texts(d)), "a reply with the key", 120)

        server.stop()
        send_message(driver, "Are you there?")
        wait(driver, lambda d: idle(d) and find_all(d, "#messages .msg.error"), "a server that went away is reported", 20)
        check("unreachable" in find_all(driver, "#messages .msg.error .body")[-1].text, "as unreachable")
        wait(driver, lambda d: find(d, "#status").text == "server unreachable", "the status line says so", 10)
    finally:
        driver.quit()
        server.stop()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", required=True)
    parser.add_argument("--port", type=int, default=18140)
    parser.add_argument("--screenshots", help="a folder for chat-desktop.png and chat-phone-dark.png")
    parser.add_argument("--log-dir", default=".build")
    args = parser.parse_args()
    try:
        import selenium  # noqa: F401
    except ImportError:
        unavailable("the selenium package is not installed (scripts/requirements-test.txt)")
    model_name = None
    server = Server(args.binary, args.port, [], os.path.join(args.log_dir, "browser-check.log"))
    try:
        models = json.load(urllib.request.urlopen(server.base + "/v1/models", timeout=10))
        model_name = models["data"][0]["id"]
        check_headers(server)
        with tempfile.TemporaryDirectory() as tmp:
            driver = make_driver(1100, 700)
            try:
                main_conversation(driver, server, model_name, args.screenshots)
                stop_long_reply(driver, server)
                server_error(driver)
                markdown_and_actions(driver, tmp)
            finally:
                driver.quit()
        phone_dark(server, args.screenshots)
    finally:
        server.stop()
    api_key(args.binary, args.port + 1, args.log_dir)
    print(f"browser check: {len(PASSED)} checks passed")


if __name__ == "__main__":
    main()
