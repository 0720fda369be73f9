"""weft-chat's page in a real browser: headless Chromium from Debian driven by Debian's python3-selenium.
Two browser sessions and one raw TCP client share the room: lines go both ways, the online list follows
joins, renames and departures, a line of HTML shows as text, and the page reconnects after the server
restarts. Run by ctest (tests/chat/CMakeLists.txt) with WEFT_CHAT_BINARY; WEFT_CHAT_SCREENSHOT=FILE saves
a picture of the page (docs/chat.md's)."""

import json
import os
import shutil
import sys
import tempfile
import unittest
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from chat_server import DEADLINE, ChatServer, LineClient  # noqa: E402

BINARY = os.environ["WEFT_CHAT_BINARY"]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
INJECTION = "<img src=x onerror=\"document.title='pwned'\"><script>document.title='pwned'</script><b>bold</b>"


class Browser:
    """One headless Chromium session with its own profile."""

    def __init__(self):
        self.profile = tempfile.mkdtemp(prefix="weft-chat-browser-")
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for argument in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--no-first-run", "--disable-extensions", "--window-size=1000,640",
                         f"--user-data-dir={self.profile}"]:
            options.add_argument(argument)
        self.driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        self.driver.set_page_load_timeout(DEADLINE)

    def open(self, port):
        self.driver.get(f"http://127.0.0.1:{port}/")
        self.wait_for_state("connected")

    def wait(self, condition, what):
        try:
            return WebDriverWait(self.driver, DEADLINE, poll_frequency=0.05).until(lambda d: condition())
        except Exception as error:
            raise AssertionError(f"the page never showed {what}; messages: {self.messages()!r}, "
                                 f"online: {self.online()!r}, state: {self.state()!r}") from error

    def state(self):
        return self.driver.execute_script("return document.body.dataset.state || ''")

    def wait_for_state(self, state):
        self.wait(lambda: self.state() == state, f"the state {state!r}")

    def messages(self):
        return [p.text for p in self.driver.find_elements(By.CSS_SELECTOR, "#messages p")]

    def wait_for_message(self, text):
        self.wait(lambda: text in self.messages(), f"the message {text!r}")

    def online(self):
        return sorted(li.text for li in self.driver.find_elements(By.CSS_SELECTOR, "#online li"))

    def wait_for_online(self, names):
        self.wait(lambda: self.online() == sorted(names), f"the online list {sorted(names)!r}")

    def submit(self, form, field, text):
        box = self.driver.find_element(By.ID, field)
        box.clear()
        box.send_keys(text)
        self.driver.find_element(By.CSS_SELECTOR, f"#{form} button").click()

    def say(self, text):
        self.submit("send-form", "input", text)

    def nick(self, name):
        self.submit("nick-form", "nick", name)
        self.wait(lambda: self.driver.find_element(By.ID, "me").text == name, f"the nick {name!r}")

    def quit(self):
        self.driver.quit()
        shutil.rmtree(self.profile, ignore_errors=True)


class BrowserChat(unittest.TestCase):
    def test_two_browsers_and_a_terminal_share_the_room(self):
        server = ChatServer(BINARY).start()
        browsers = []
        terminal = None
        try:
            alice, bob = Browser(), Browser()
            browsers = [alice, bob]
            alice.open(server.http_port)
            alice.nick("alice")
            bob.open(server.http_port)
            bob.nick("bob")
            terminal = LineClient(server.tcp_port)
            terminal.wait_for(lambda line: line.startswith("Welcome"), "welcoming the terminal")
            terminal.send("/nick carol")
            terminal.wait_for(lambda line: line.endswith("is now known as carol"), "renaming carol")
            for browser in browsers:
                browser.wait_for_online(["alice", "bob", "carol"])

            # Browser -> terminal and browser.
            alice.say("hello from alice")
            terminal.wait_for(lambda line: line == "alice: hello from alice", "alice's line")
            bob.wait_for_message("alice: hello from alice")
            # Terminal -> browsers.
            terminal.send("hi from the terminal")
            alice.wait_for_message("carol: hi from the terminal")
            bob.wait_for_message("carol: hi from the terminal")
            # /me from a browser.
            bob.say("/me waves")
            terminal.wait_for(lambda line: line == "bob * waves", "bob's action")
            alice.wait_for_message("* bob waves")

            # A line of HTML is shown as text: no element made from it, no script run.
            terminal.send(INJECTION)
            alice.wait_for_message("carol: " + INJECTION)
            self.assertEqual(alice.driver.find_elements(By.CSS_SELECTOR, "#messages img, #messages script, "
                                                                         "#messages b"), [])
            self.assertEqual(alice.driver.title, "weft chat")
            self.assertEqual(bob.driver.title, "weft chat")

            # A departure updates the list.
            bob.quit()
            browsers.remove(bob)
            terminal.wait_for(lambda line: line == "* bob left", "bob leaving")
            alice.wait_for_online(["alice", "carol"])

            screenshot = os.environ.get("WEFT_CHAT_SCREENSHOT")
            if screenshot:
                alice.driver.save_screenshot(screenshot)

            # The server restarts on the same port: the page notices, reconnects, and works again.
            terminal.close()
            terminal = None
            http_port = server.http_port
            self.assertEqual(server.stop(), 0)
            alice.wait_for_state("disconnected")
            server = ChatServer(BINARY).start(http_port=http_port)
            alice.wait_for_state("connected")
            terminal = LineClient(server.tcp_port)
            terminal.wait_for(lambda line: line.startswith("Welcome"), "welcoming the terminal again")
            alice.say("back again")
            terminal.wait_for(lambda line: line.endswith(": back again"), "alice's line after the restart")

            # A close the server explains (/quit's "* bye", an "! ..." error) is not retried: a refused or
            # cut page would only come back to be refused again.
            alice.say("/quit")
            alice.wait_for_state("disconnected")
            self.assertIn("reload the page", alice.driver.find_element(By.ID, "status").text)
            terminal.wait_for(lambda line: line.endswith(" left"), "alice leaving")
        finally:
            if terminal:
                terminal.close()
            for browser in browsers:
                browser.quit()
            server.stop()

    def test_an_idle_tab_is_cut_by_the_idle_timeout_and_not_retried(self):
        # The page asks /who once when it connects and sends nothing on its own after that (no polling):
        # a tab nobody types in is idle like any other client, and the idle cut is a close the server
        # explained, so the page does not knock again.
        server = ChatServer(BINARY, "--idle-timeout", "2").start()
        browser = None
        try:
            browser = Browser()
            browser.open(server.http_port)
            browser.wait_for_message("! idle for 2 s, disconnecting")
            browser.wait_for_state("disconnected")
            self.assertIn("reload the page", browser.driver.find_element(By.ID, "status").text)
            with urllib.request.urlopen(f"http://127.0.0.1:{server.http_port}/stats", timeout=DEADLINE) as answer:
                stats = json.load(answer)
            self.assertEqual(stats["cut"]["idle"], 1)
            self.assertEqual(stats["clients_online"], 0)
        finally:
            if browser:
                browser.quit()
            server.stop()


if __name__ == "__main__":
    unittest.main(verbosity=2)
