"""Signing in and out, 401s, what a token may do (introspection), the
project filter, and that nothing leaves the server's origin."""
import unittest

from selenium.webdriver.common.by import By

from harness import ConsoleCase


class Session(ConsoleCase):

    def test_1_sign_in_keeps_the_token_in_session_storage_only(self):
        self.open("/settings/tokens")
        self.visible("#signin-token")
        self.screenshot("sign-in")
        # A wrong token: refused, with a message, still on the sign-in screen.
        self.find("#signin-token").send_keys("iam_not-a-real-token-at-all-000000")
        self.find("#signin-submit").click()
        self.wait_text("#signin-message", "The server did not accept this token")
        self.assertFalse(self.driver.find_elements(By.CSS_SELECTOR, "#sign-out"))
        self.assertEqual(self.driver.execute_script("return sessionStorage.length"), 0)
        # The right one.
        self.sign_in(self.server.admin)
        self.find("#tokens-table")
        self.assertEqual(self.driver.execute_script(
            "return sessionStorage.getItem('iamledger.token')"), self.server.admin)
        self.assertEqual(self.driver.execute_script("return localStorage.length"), 0)
        self.assertEqual(self.driver.execute_script("return document.cookie"), "")
        self.assertEqual(self.driver.get_cookies(), [])
        self.assertNotIn(self.server.admin, self.driver.current_url)
        # The token is never in a URL the page requested.
        self.collect_requests()
        self.assertFalse([u for u, _ in self.requests if self.server.admin in u])
        # A reload keeps the session (same tab); the shell is revalidated.
        self.driver.refresh()
        self.find("#tokens-table")

    def test_2_sign_out(self):
        self.sign_in(self.server.admin)
        self.find("#sign-out").click()
        self.visible("#signin-token")
        self.wait_text("#signin-message", "You have signed out.")
        self.assertIsNone(self.driver.execute_script("return sessionStorage.getItem('iamledger.token')"))
        self.open("/settings/policies")
        self.visible("#signin-token")  # no way in without signing in again

    def test_3_a_401_returns_to_sign_in_with_a_message(self):
        token = self.server.create_token("short-lived")
        status, _ = self.server.api("POST", "/policies/administrator-access/members:add",
                                    {"members": ["token:short-lived"]})
        self.assertEqual(status, 200)
        self.sign_in(token)
        self.find("#tokens-table")
        # The token is deactivated elsewhere; the next call answers 401.
        self.server.api("PUT", "/tokens/short-lived", {"name": "short-lived", "active": False})
        self.find("#nav-policies").click()
        self.visible("#signin-token")
        self.wait_text("#signin-message", "Your session has ended")
        self.assertIn("401", self.text_of("#signin-message"))
        self.screenshot("sign-in-after-401")
        self.assertIsNone(self.driver.execute_script("return sessionStorage.getItem('iamledger.token')"))
        # Signing in again brings the person back to where they were going.
        self.sign_in(self.server.admin, path="/settings/policies")
        self.find("#policies-table")

    def test_4_a_viewer_only_token_sees_no_create_token(self):
        status, body = self.server.api("POST", "/policies", {
            "id": "token-readers", "name": "Token readers", "members": ["token:reader"],
            "statements": [{"effect": "ALLOW", "projects": ["*"],
                            "actions": ["iam:tokens:list", "iam:tokens:get", "iam:policies:list",
                                        "iam:policies:get", "iam:projects:list"]}]})
        self.assertEqual(status, 200, body)
        reader = self.server.create_token("reader")
        self.server.api("POST", "/tokens", {"id": "someone", "name": "Someone"})
        self.sign_in(reader)
        self.find("#tokens-table")
        self.assertFalse(self.driver.find_elements(By.CSS_SELECTOR, "#create-token"))
        self.assertEqual(self.buttons_named("Create Token"), [])
        # The row menu: Toggle and Delete disabled (introspection), Copy allowed.
        row = self.row("#tokens-table", "data-token-id", "someone")
        self.row_menu(row, "Copy Token")
        items = {b.text: b for b in row.find_elements(By.CSS_SELECTOR, ".menu-item")}
        self.wait(lambda d: not items["Delete Token"].is_enabled(), message="delete disabled")
        self.assertFalse(items["Toggle Status"].is_enabled())
        self.screenshot("tokens-viewer")
        # The token page: read-only details, no Delete.
        self.open("/settings/tokens/someone")
        self.wait_text("#token-title", "Someone")
        self.assertFalse(self.find("#token-delete").is_enabled())
        self.assertFalse(self.find("#token-name").is_enabled())
        # No Activity for a token without iam:events:list.
        self.assertFalse(self.driver.find_elements(By.CSS_SELECTOR, "#nav-activity"))
        self.find("#sign-out").click()

    def test_5_project_filter_sends_the_projects_header_and_empty_state(self):
        self.server.api("POST", "/projects", {"id": "empty-proj", "name": "Empty Project"})
        self.server.api("POST", "/projects", {"id": "full-proj", "name": "Full Project"})
        self.server.api("POST", "/tokens", {"id": "in-full", "name": "In Full", "projects": ["full-proj"]})
        self.sign_in(self.server.admin)
        self.find("#tokens-table")
        self.find("#project-filter-summary").click()
        self.find('#project-filter input[data-value="full-proj"]').click()
        self.wait(lambda d: [a.text for a in d.find_elements(By.CSS_SELECTOR, "#tokens-table a.token-link")]
                  == ["In Full"], message="only the project's tokens")
        self.find('#project-filter input[data-value="full-proj"]').click()
        self.find('#project-filter input[data-value="empty-proj"]').click()
        self.wait_text("#tokens-empty", "Create the first token to get started!")
        self.screenshot("tokens-empty")
        # The header went out with the calls.
        self.assertEqual(self.driver.execute_script(
            "return JSON.parse(sessionStorage.getItem('iamledger.projects'))"), ["empty-proj"])
        self.collect_requests()
        sent = [{k.lower(): v for k, v in h.items()}.get("projects")
                for u, h in self.request_headers if u.endswith("/apis/iam/v2/tokens")]
        self.assertIn("full-proj", sent)
        self.assertIn("empty-proj", sent)
        self.find('#project-filter input[data-value="empty-proj"]').click()
        self.find("#tokens-table")

    def test_9_no_request_left_the_origin(self):
        self.assert_same_origin()


class SessionOverTls(ConsoleCase):
    """The same console over `serve --tls-cert/--tls-key`."""
    tls = True

    def test_1_sign_in_create_and_copy_over_tls(self):
        self.assertTrue(self.server.origin.startswith("https://"))
        self.sign_in(self.server.admin)
        self.find("#tokens-table")
        self.button("Create Token").click()
        self.find("#create-name").send_keys("Over TLS")
        self.wait_text("#create-id-label", "over-tls")
        self.find("#create-submit").click()
        self.gone("#create-token-dialog")
        row = self.row("#tokens-table", "data-token-id", "over-tls")
        self.row_menu(row, "Copy Token").click()
        self.page_has("API Token copied to clipboard.")
        self.assertEqual(self.clipboard(), self.server.api("GET", "/tokens/over-tls")[1]["token"]["value"])
        self.assert_same_origin()


if __name__ == "__main__":
    unittest.main()
