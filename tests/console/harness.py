"""Shared pieces of the console's browser tests (tests/console/).

Server starts the real build/iamledger on a free loopback port with a fresh
data directory and creates an admin token through the CLI; Browser drives
Debian's headless Chromium through chromedriver (python3-selenium). Every
test class checks at the end that no request the page made left the
server's origin (Chromium's network log, via the performance log).
"""
import json
import os
import re
import shutil
import ssl
import subprocess
import tempfile
import time
import unittest
import urllib.error
import urllib.request

from selenium import webdriver
from selenium.common.exceptions import (StaleElementReferenceException,
                                        TimeoutException, WebDriverException)
from selenium.webdriver.chrome.service import Service as ChromeService
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

BINARY = os.environ.get("IAMLEDGER_BINARY", "build/iamledger")
SHOTS = os.environ.get("IAMLEDGER_SCREENSHOTS", "build/console-screenshots")
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")
TIMEOUT = 20  # seconds; generous, other builds share the 2 cores


class Server:
    def __init__(self, tls=False):
        self.dir = tempfile.mkdtemp(prefix="iamledger-console-")
        self.data = os.path.join(self.dir, "data")
        args = [BINARY, "serve", "--data-dir", self.data, "--listen", "127.0.0.1:0"]
        self.tls = tls
        if tls:
            cert, key = os.path.join(self.dir, "cert.pem"), os.path.join(self.dir, "key.pem")
            subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                            "-days", "1", "-subj", "/CN=127.0.0.1", "-keyout", key,
                            "-out", cert], check=True, capture_output=True)
            args += ["--tls-cert", cert, "--tls-key", key]
        self.log = open(os.path.join(self.dir, "serve.log"), "w+")
        self.proc = subprocess.Popen(args, stderr=self.log, stdout=self.log)
        deadline = time.time() + TIMEOUT
        self.port = None
        while time.time() < deadline and self.port is None:
            if self.proc.poll() is not None:
                raise RuntimeError("iamledger serve exited: " + self._log())
            m = re.search(r"\(port (\d+)\)", self._log())
            if m:
                self.port = int(m.group(1))
            else:
                time.sleep(0.05)
        if self.port is None:
            raise RuntimeError("iamledger serve did not start: " + self._log())
        scheme = "https" if tls else "http"
        self.origin = f"{scheme}://127.0.0.1:{self.port}"
        self.admin = self.create_token("admin", admin=True)

    def _log(self):
        self.log.flush()
        with open(self.log.name) as f:
            return f.read()

    def create_token(self, name, admin=False):
        args = [BINARY, "iam", "token", "create", name, "--data-dir", self.data]
        if admin:
            args.append("--admin")
        out = subprocess.run(args, check=True, capture_output=True, text=True)
        return out.stdout.strip()

    def request(self, method, path, body=None, token=None, headers=None):
        """(status, headers, body bytes) of one request to the server."""
        h = dict(headers or {})
        if token:
            h["api-token"] = token
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            h["Content-Type"] = "application/json"
        req = urllib.request.Request(self.origin + path, data=data, method=method, headers=h)
        ctx = ssl._create_unverified_context() if self.tls else None

        class NoRedirect(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *a, **k):
                return None
        opener = urllib.request.build_opener(NoRedirect, urllib.request.HTTPSHandler(context=ctx))
        try:
            with opener.open(req, timeout=TIMEOUT) as r:
                return r.status, r.headers, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read()

    def api(self, method, path, body=None, token=None):
        """(status, decoded JSON) of an /apis/iam/v2 call, as the admin by default."""
        status, _, data = self.request(method, "/apis/iam/v2" + path, body, token or self.admin)
        try:
            return status, json.loads(data or b"{}")
        except ValueError:
            return status, {"raw": data.decode(errors="replace")}

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def make_browser(profile_dir):
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for a in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
              "--no-first-run", "--disable-background-networking",
              "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
              "--window-size=1280,900", f"--user-data-dir={profile_dir}"]:
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    opts.set_capability("acceptInsecureCerts", True)  # the TLS tests' self-signed certificate
    driver = webdriver.Chrome(service=ChromeService(executable_path=CHROMEDRIVER), options=opts)
    # Request headers in the network log (Network.requestWillBeSent).
    driver.execute_cdp_cmd("Network.enable", {})
    driver.set_script_timeout(TIMEOUT)
    return driver


class ConsoleCase(unittest.TestCase):
    """One server and one browser per test class."""

    tls = False
    server = None
    driver = None

    @classmethod
    def setUpClass(cls):
        cls.server = Server(tls=cls.tls)
        cls.profile = tempfile.mkdtemp(prefix="iamledger-chromium-")
        try:
            cls.driver = make_browser(cls.profile)
        except Exception:
            cls.server.stop()
            raise
        cls.requests = []  # (url, document url) of every request the page made
        cls.request_headers = []  # (url, headers) of the same
        cls.driver.execute_cdp_cmd("Browser.grantPermissions", {
            "origin": cls.server.origin,
            "permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"]})
        os.makedirs(SHOTS, exist_ok=True)

    @classmethod
    def tearDownClass(cls):
        try:
            if cls.driver:
                cls.collect_requests()
                cls.driver.quit()
        finally:
            shutil.rmtree(cls.profile, ignore_errors=True)
            cls.server.stop()

    @classmethod
    def collect_requests(cls):
        for entry in cls.driver.get_log("performance"):
            msg = json.loads(entry["message"])["message"]
            if msg.get("method") == "Network.requestWillBeSent":
                p = msg["params"]
                cls.requests.append((p["request"]["url"], p.get("documentURL", "")))
                cls.request_headers.append((p["request"]["url"], p["request"].get("headers", {})))

    def assert_same_origin(self):
        """Every request the page made so far went to the server's origin."""
        self.collect_requests()
        self.assertTrue(self.requests, "the network log recorded nothing")
        origin = self.server.origin + "/"
        ours = [u for u, doc in self.requests if doc.startswith(origin)]
        self.assertTrue(any(u.startswith(origin + "apis/iam/v2/") for u in ours))
        # Anything a console page asked for, and any web request at all
        # (the browser's own chrome:// pages aside), stays on the origin.
        foreign = [u for u, doc in self.requests
                   if (doc.startswith(origin) or u.startswith(("http:", "https:", "ws:", "wss:")))
                   and not (u.startswith(origin) or u.startswith("data:"))]
        self.assertEqual(foreign, [], "requests left the server's origin")
        # The page's own view of it too.
        entries = self.driver.execute_script(
            "return performance.getEntriesByType('resource').map(e => e.name)"
            ".concat(performance.getEntriesByType('navigation').map(e => e.name));")
        foreign = [u for u in entries if not (u.startswith(self.server.origin + "/") or
                                              u.startswith("data:"))]
        self.assertEqual(foreign, [])

    # ---- helpers
    def open(self, path):
        self.driver.get(self.server.origin + path)

    def wait(self, cond, timeout=TIMEOUT, message=""):
        def safe(d):
            try:
                return cond(d)
            except (StaleElementReferenceException, WebDriverException):
                return False
        try:
            return WebDriverWait(self.driver, timeout, poll_frequency=0.1).until(safe)
        except TimeoutException:
            self.fail(f"timed out waiting: {message}\nbrowser log: "
                      f"{self.driver.get_log('browser')}")

    def find(self, css):
        return self.wait(lambda d: d.find_element(By.CSS_SELECTOR, css), message=css)

    def visible(self, css):
        return self.wait(lambda d: (lambda e: e if e.is_displayed() else False)(
            d.find_element(By.CSS_SELECTOR, css)), message=f"{css} visible")

    def gone(self, css):
        self.wait(lambda d: not d.find_elements(By.CSS_SELECTOR, css), message=f"{css} gone")

    def text_of(self, css):
        return self.find(css).text

    def wait_text(self, css, text):
        self.wait(lambda d: text in d.find_element(By.CSS_SELECTOR, css).text,
                  message=f"{text!r} in {css}")

    def page_has(self, text):
        self.wait(lambda d: text in d.find_element(By.TAG_NAME, "body").text,
                  message=f"page shows {text!r}")

    def button(self, label, scope="body"):
        """The visible, enabled button labelled exactly `label`."""
        def f(d):
            for b in d.find_elements(By.CSS_SELECTOR, f"{scope} button"):
                if b.text.strip() == label and b.is_displayed() and b.is_enabled():
                    return b
            return False
        return self.wait(f, message=f"button {label!r}")

    def buttons_named(self, label):
        return [b for b in self.driver.find_elements(By.TAG_NAME, "button")
                if b.text.strip() == label and b.is_displayed()]

    def sign_in(self, token, path="/settings/tokens"):
        """Signs in afresh (whoever was signed in before) and lands on `path`."""
        self.open(path)
        if self.driver.execute_script("return sessionStorage.length") > 0:
            self.driver.execute_script("sessionStorage.clear()")
            self.open(path)
        field = self.visible("#signin-token")
        field.clear()
        field.send_keys(token)
        self.find("#signin-submit").click()
        self.find("#sign-out")

    def sign_out(self):
        self.driver.execute_script("sessionStorage.clear()")

    def row(self, table_css, attr, value):
        return self.find(f'{table_css} tr[{attr}="{value}"]')

    def row_menu(self, row_el, item):
        row_el.find_element(By.CSS_SELECTOR, "details.menu > summary").click()
        def f(d):
            for b in row_el.find_elements(By.CSS_SELECTOR, ".menu-item"):
                if b.text.strip() == item and b.is_displayed():
                    return b
            return False
        return self.wait(f, message=f"menu item {item!r}")

    def clipboard(self):
        return self.driver.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "navigator.clipboard.readText().then(done, e => done('ERROR ' + e));")

    def screenshot(self, name):
        self.driver.save_screenshot(os.path.join(SHOTS, f"{name}.png"))
