"""Settings > API Tokens in a real browser: the list, the Create Token
dialog, the row menu, and a token's page (Details, Policies, History)."""
import unittest

from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from harness import ConsoleCase


class Tokens(ConsoleCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.driver.get(cls.server.origin + "/settings/tokens")

    def setUp(self):
        if not self.driver.find_elements(By.CSS_SELECTOR, "#sign-out"):
            self.sign_in(self.server.admin)

    def create_via_api(self, token_id, name, **extra):
        status, body = self.server.api("POST", "/tokens", {"id": token_id, "name": name, **extra})
        self.assertEqual(status, 200, body)
        return body["token"]

    def token_names_in_table(self):
        return [a.text for a in self.driver.find_elements(By.CSS_SELECTOR, "#tokens-table a.token-link")]

    def test_1_list_natural_sort_filter_and_columns(self):
        for i, n in [("tok-10", "tok 10"), ("tok-2", "tok 2"), ("tok-1", "Tok 1")]:
            self.create_via_api(i, n, projects=[])
        self.open("/settings/tokens")
        self.find("#tokens-table")
        self.wait(lambda d: "tok 10" in self.token_names_in_table(), message="tokens listed")
        names = self.token_names_in_table()
        self.assertLess(names.index("Tok 1"), names.index("tok 2"))
        self.assertLess(names.index("tok 2"), names.index("tok 10"))  # natural, not "10" < "2"
        headers = [th.text for th in self.driver.find_elements(By.CSS_SELECTOR, "#tokens-table th")]
        self.assertEqual(headers[:5], ["NAME", "ID", "PROJECTS", "CREATED", "STATUS"])
        row = self.row("#tokens-table", "data-token-id", "tok-2")
        cells = [td.text for td in row.find_elements(By.TAG_NAME, "td")]
        self.assertEqual(cells[1], "tok-2")
        self.assertEqual(cells[2], "(unassigned)")
        self.assertRegex(cells[3], r"^\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d UTC$")
        self.assertEqual(cells[4], "Active")
        link = row.find_element(By.CSS_SELECTOR, "a")
        self.assertEqual(link.get_attribute("href"), self.server.origin + "/settings/tokens/tok-2")
        # Navigation shows Settings > API Tokens, Policies.
        nav = self.find("nav.sidebar").get_attribute("textContent")
        for label in ["Settings", "API Tokens", "Policies"]:
            self.assertIn(label, nav)
        self.screenshot("tokens-list")
        # The filter box.
        f = self.find("#token-filter")
        f.send_keys("tok 1")
        self.wait(lambda d: self.token_names_in_table() == ["Tok 1", "tok 10"], message="filtered")
        f.send_keys(Keys.CONTROL, "a")
        f.send_keys("no such token")
        self.wait_text("#tokens-no-match", 'No tokens match "no such token".')
        f.send_keys(Keys.CONTROL, "a")
        f.send_keys(Keys.BACKSPACE)
        self.find("#tokens-table")

    def test_2_create_dialog_derived_id_edit_id_validation_409(self):
        status, _ = self.server.api("POST", "/projects", {"id": "proj-a", "name": "Project A"})
        self.assertEqual(status, 200)
        self.open("/settings/tokens")
        self.button("Create Token").click()
        self.find("#create-token-dialog")
        name = self.find("#create-name")
        name.send_keys("My CI_Bot v2!")
        # Automate's id-mapper: lowercase, everything outside [a-z0-9_] -> '-'.
        self.wait_text("#create-id-label", "my-ci_bot-v2-")
        self.assertIn("ID: my-ci_bot-v2-", self.text_of("#create-token-dialog"))
        self.screenshot("create-token-dialog")
        # Validation as Automate's.
        name.send_keys(Keys.CONTROL, "a")
        name.send_keys(Keys.BACKSPACE)
        self.wait_text("#create-name-error", "Name is required.")
        self.assertFalse(self.find("#create-submit").is_enabled())
        name.send_keys("Deploy Bot")
        self.wait_text("#create-id-label", "deploy-bot")
        # Edit ID: an editable field; the name no longer drives it.
        self.find("#create-edit-id").click()
        id_input = self.visible("#create-id")
        self.assertEqual(id_input.get_attribute("value"), "deploy-bot")
        id_input.send_keys(Keys.CONTROL, "a")
        id_input.send_keys("Bad ID")
        self.wait_text("#create-id-errors",
                       "Only lowercase letters, numbers, hyphens, and underscores are allowed.")
        self.assertFalse(self.find("#create-submit").is_enabled())
        id_input.send_keys(Keys.CONTROL, "a")
        id_input.send_keys("x" * 65)
        self.wait_text("#create-id-errors", "ID must be 64 characters or less.")
        id_input.send_keys(Keys.CONTROL, "a")
        id_input.send_keys(Keys.BACKSPACE)
        self.wait_text("#create-id-errors", "ID is required.")
        id_input.send_keys("deployer")
        name.send_keys(" 2")
        self.assertEqual(self.find("#create-id").get_attribute("value"), "deployer")
        # Policies and Projects multi-selects.
        self.find("#create-policies-summary").click()
        self.find('#create-policies input[data-value="viewer-access"]').click()
        self.find('#create-policies input[data-value="compliance-viewer-access"]').click()
        self.find("#create-policies-summary").click()  # closes it
        self.find("#create-projects-summary").click()
        self.find('#create-projects input[data-value="proj-a"]').click()
        self.find("#create-name").click()  # closes the dropdowns
        self.find("#create-submit").click()
        self.gone("#create-token-dialog")
        self.page_has('Created token "Deploy Bot 2".')
        status, body = self.server.api("GET", "/tokens/deployer")
        self.assertEqual(status, 200)
        self.assertEqual(body["token"]["name"], "Deploy Bot 2")
        self.assertEqual(body["token"]["projects"], ["proj-a"])
        for pid in ["viewer-access", "compliance-viewer-access"]:
            _, pol = self.server.api("GET", f"/policies/{pid}/members")
            self.assertIn("token:deployer", pol["members"])
        _, pol = self.server.api("GET", "/policies/editor-access/members")
        self.assertNotIn("token:deployer", pol["members"])
        # 409: inline on the ID field, the dialog stays open.
        self.button("Create Token").click()
        self.find("#create-name").send_keys("Deployer")
        self.wait_text("#create-id-label", "deployer")
        self.find("#create-submit").click()
        self.wait_text("#create-id-errors", 'Token ID "deployer" already exists.')
        self.assertTrue(self.find("#create-token-dialog").is_displayed())
        self.visible("#create-id")  # the ID opens for editing
        self.assertFalse(self.find("#create-submit").is_enabled())
        self.screenshot("create-token-409")
        # Other errors: the server's own message, dialog open.
        status, _ = self.server.api("POST", "/projects", {"id": "proj-gone", "name": "Gone"})
        self.assertEqual(status, 200)
        self.find("#create-cancel").click()
        self.gone("#create-token-dialog")
        self.button("Create Token").click()
        self.find("#create-name").send_keys("Doomed")
        self.find("#create-projects-summary").click()
        self.find('#create-projects input[data-value="proj-gone"]').click()
        status, _ = self.server.api("DELETE", "/projects/proj-gone")
        self.assertEqual(status, 200)
        self.find("#create-name").click()
        self.find("#create-submit").click()
        err = self.visible("#create-error")
        self.wait(lambda d: "proj-gone" in err.text and "does not exist" in err.text,
                  message="server message shown")
        self.assertTrue(self.find("#create-token-dialog").is_displayed())
        self.find("#create-cancel").click()
        self.gone("#create-token-dialog")
        self.assertEqual(self.server.api("GET", "/tokens/doomed")[0], 404)

    def test_3_copy_toggle_delete_from_the_row_menu(self):
        tok = self.create_via_api("copy-me", "Copy Me")
        self.open("/settings/tokens")
        row = self.row("#tokens-table", "data-token-id", "copy-me")
        self.row_menu(row, "Copy Token").click()
        self.page_has("API Token copied to clipboard.")
        self.assertEqual(self.clipboard(), tok["value"])
        self.screenshot("tokens-row-menu")
        # Toggle Status
        self.row_menu(row, "Toggle Status").click()
        self.wait(lambda d: self.row("#tokens-table", "data-token-id", "copy-me")
                  .find_element(By.CSS_SELECTOR, "td.status").text == "Inactive", message="inactive")
        self.assertFalse(self.server.api("GET", "/tokens/copy-me")[1]["token"]["active"])
        row = self.row("#tokens-table", "data-token-id", "copy-me")
        self.row_menu(row, "Toggle Status").click()
        self.wait(lambda d: self.row("#tokens-table", "data-token-id", "copy-me")
                  .find_element(By.CSS_SELECTOR, "td.status").text == "Active", message="active")
        self.assertTrue(self.server.api("GET", "/tokens/copy-me")[1]["token"]["active"])
        # Delete Token: a dialog naming the token; Cancel keeps it.
        row = self.row("#tokens-table", "data-token-id", "copy-me")
        self.row_menu(row, "Delete Token").click()
        dialog = self.find("#delete-token-dialog")
        self.assertIn('"Copy Me"', dialog.text)
        self.screenshot("delete-token-dialog")
        self.assertEqual(self.find("#delete-token-dialog-confirm").text, "Delete Token")
        self.find("#delete-token-dialog-cancel").click()
        self.gone("#delete-token-dialog")
        self.assertEqual(self.server.api("GET", "/tokens/copy-me")[0], 200)
        row = self.row("#tokens-table", "data-token-id", "copy-me")
        self.row_menu(row, "Delete Token").click()
        self.find("#delete-token-dialog-confirm").click()
        self.gone('#tokens-table tr[data-token-id="copy-me"]')
        self.assertEqual(self.server.api("GET", "/tokens/copy-me")[0], 404)

    def test_4_token_page_details_save_history_and_copy(self):
        tok = self.create_via_api("page-tok", "Page Token")
        self.server.api("POST", "/projects", {"id": "proj-b", "name": "Project B"})
        self.open("/settings/tokens")
        self.row("#tokens-table", "data-token-id", "page-tok").find_element(By.CSS_SELECTOR, "a").click()
        self.wait_text("#token-title", "Page Token")
        self.assertIn("/settings/tokens/page-tok", self.driver.current_url)
        self.assertEqual(self.text_of("#summary-id"), "page-tok")
        self.assertEqual(self.text_of("#summary-projects"), "(unassigned)")
        self.assertEqual(self.text_of("#summary-status"), "Active")
        self.assertTrue(self.text_of("#summary-changed").startswith("token:admin, "))
        self.screenshot("token-details")
        # Copy Token here too.
        self.find("#token-copy").click()
        self.page_has("API Token copied to clipboard.")
        self.assertEqual(self.clipboard(), tok["value"])
        # Details: edit name, projects and status; Save; "All changes saved."
        self.assertFalse(self.find("#token-save").is_enabled())
        name = self.find("#token-name")
        name.send_keys(Keys.CONTROL, "a")
        name.send_keys("Renamed Token")
        self.find("#token-projects-summary").click()
        self.find('#token-projects input[data-value="proj-b"]').click()
        self.find("#token-status option[value=inactive]").click()
        self.find("#token-save").click()
        self.wait_text("#save-status", "All changes saved.")
        self.wait_text("#token-title", "Renamed Token")
        self.assertEqual(self.text_of("#summary-status"), "Inactive")
        self.assertEqual(self.text_of("#summary-projects"), "proj-b")
        body = self.server.api("GET", "/tokens/page-tok")[1]["token"]
        self.assertEqual((body["name"], body["active"], body["projects"]),
                         ("Renamed Token", False, ["proj-b"]))
        # History: the rename with its actor.
        self.find("#tab-history").click()
        table = self.find("#history-table")
        self.wait(lambda d: "TokenRenamed" in table.text, message="rename in history")
        rename = [r for r in table.find_elements(By.CSS_SELECTOR, "tbody tr") if "TokenRenamed" in r.text][0]
        self.assertIn('Renamed to "Renamed Token"', rename.text)
        self.assertEqual(rename.find_element(By.CSS_SELECTOR, "td.actor").text, "token:admin")
        self.assertIn("127.0.0.1", rename.text)
        self.screenshot("token-history")
        # A change by someone else meanwhile: If-Match makes Save report it.
        self.find("#tab-details").click()
        self.server.api("PUT", "/tokens/page-tok", {"name": "Changed Elsewhere", "active": False,
                                                     "projects": ["proj-b"]})
        name = self.find("#token-name")
        name.send_keys(Keys.CONTROL, "a")
        name.send_keys("Mine")
        self.find("#token-save").click()
        self.wait_text("#save-error", "Someone else changed this token")
        self.assertEqual(self.server.api("GET", "/tokens/page-tok")[1]["token"]["name"], "Changed Elsewhere")
        self.wait_text("#token-title", "Changed Elsewhere")  # their version is shown
        self.assertEqual(self.find("#token-name").get_attribute("value"), "Changed Elsewhere")
        # Delete from the page, then the history survives.
        self.find("#token-delete").click()
        self.assertIn('"Changed Elsewhere"', self.find("#delete-token-dialog").text)
        self.find("#delete-token-dialog-confirm").click()
        self.wait(lambda d: d.current_url.endswith("/settings/tokens"), message="back to the list")
        self.open("/settings/tokens/page-tok")
        self.find("#token-gone")
        self.wait_text("#history-table", "TokenDeleted")

    def test_5_policies_tab_add_then_the_token_authorizes(self):
        tok = self.create_via_api("needs-access", "Needs Access")
        status, _ = self.server.api("GET", "/projects", token=tok["value"])
        self.assertEqual(status, 403)
        self.open("/settings/tokens/needs-access")
        self.wait_text("#token-title", "Needs Access")
        self.find("#tab-policies").click()
        self.find("#token-policies-empty")
        self.find('#policy-to-add option[value="viewer-access"]').click()
        self.find("#policy-add").click()
        self.wait(lambda d: d.find_elements(By.CSS_SELECTOR,
                  '#token-policies-table tr[data-policy-id="viewer-access"]'), message="listed")
        self.screenshot("token-policies")
        status, body = self.server.api("GET", "/projects", token=tok["value"])
        self.assertEqual(status, 200, body)  # it authorizes now (viewer: iam:projects:list)
        # Membership through token:* shows too, without a Remove.
        self.server.api("POST", "/policies/ingest-access/members:add", {"members": ["token:*"]})
        self.find("#tab-details").click()
        self.find("#tab-policies").click()
        row = self.row("#token-policies-table", "data-policy-id", "ingest-access")
        self.assertIn("token:*", row.text)
        self.assertFalse(row.find_elements(By.CSS_SELECTOR, "button"))
        # And through "*" (every subject).
        self.server.api("POST", "/policies/compliance-editor-access/members:add", {"members": ["*"]})
        self.find("#tab-details").click()
        self.find("#tab-policies").click()
        row = self.row("#token-policies-table", "data-policy-id", "compliance-editor-access")
        self.assertEqual(row.find_elements(By.CSS_SELECTOR, "td")[3].text, "*")
        # Remove, with confirmation.
        self.find('[data-remove-policy="viewer-access"]').click()
        self.find("#remove-policy-dialog-confirm").click()
        self.gone('#token-policies-table tr[data-policy-id="viewer-access"]')
        self.assertEqual(self.server.api("GET", "/projects", token=tok["value"])[0], 403)

    def test_6_lifecycle_expiry_last_used_and_rotate(self):
        status, body = self.server.api("POST", "/tokens", {
            "id": "life-tok", "name": "Life Token", "expires_at": "2099-01-02T03:04:05Z"})
        self.assertEqual(status, 200, body)
        old_value = body["token"]["value"]
        self.server.api("GET", "/tokens", token=old_value)  # used once (403, still a use or not)
        self.open("/settings/tokens")
        row = self.row("#tokens-table", "data-token-id", "life-tok")
        self.wait(lambda d: "Fri, 02 Jan 2099 03:04:05 UTC" in
                  self.row("#tokens-table", "data-token-id", "life-tok").text, message="expiry column")
        headers = [th.text for th in self.driver.find_elements(By.CSS_SELECTOR, "#tokens-table th")]
        self.assertIn("EXPIRES", headers)
        self.assertIn("LAST USED", headers)
        self.open("/settings/tokens/life-tok")
        self.wait_text("#summary-expires", "Fri, 02 Jan 2099 03:04:05 UTC")
        self.find("#summary-last-used")
        # Change the expiry in Details (the datetime input is UTC).
        self.assertEqual(self.find("#token-expires").get_attribute("value"), "2099-01-02T03:04")
        self.driver.execute_script(
            "const e = document.getElementById('token-expires'); e.value = '2098-05-06T07:08';"
            "e.dispatchEvent(new Event('input', {bubbles: true}));")
        self.find("#token-save").click()
        self.wait_text("#save-status", "All changes saved.")
        self.assertEqual(self.server.api("GET", "/tokens/life-tok")[1]["token"]["expires_at"],
                         "2098-05-06T07:08:00Z")
        # Rotate with a grace period: both values work meanwhile.
        self.find("#token-rotate").click()
        self.find('#rotate-grace option[value="3600"]').click()
        self.find("#rotate-submit").click()
        self.wait_text("#rotate-message", "The old value works until")
        self.screenshot("token-rotate")
        self.find("#rotate-copy").click()
        self.page_has("API Token copied to clipboard.")
        new_value = self.clipboard()
        self.assertNotEqual(new_value, old_value)
        self.assertEqual(self.server.api("GET", "/tokens/life-tok")[1]["token"]["value"], new_value)
        self.server.api("POST", "/policies/viewer-access/members:add", {"members": ["token:life-tok"]})
        self.assertEqual(self.server.api("GET", "/projects", token=new_value)[0], 200)
        self.assertEqual(self.server.api("GET", "/projects", token=old_value)[0], 200)
        self.find("#rotate-close").click()
        self.gone("#rotate-dialog")
        self.find("#tab-history").click()
        self.wait_text("#history-table", "TokenRotated")

    def test_9_no_request_left_the_origin(self):
        self.assert_same_origin()


if __name__ == "__main__":
    unittest.main()
