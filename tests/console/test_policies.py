"""Settings > Policies in a real browser: the list, deleting a custom
policy, a policy's Definition and Members (the member-expression builder)."""
import json
import unittest

from selenium.webdriver.common.by import By

from harness import ConsoleCase


class Policies(ConsoleCase):

    def setUp(self):
        if not self.driver.find_elements(By.CSS_SELECTOR, "#sign-out"):
            self.sign_in(self.server.admin)

    def test_1_list_types_and_status(self):
        self.server.api("POST", "/policies", {
            "id": "doomed-policy", "name": "Doomed Policy", "members": [],
            "statements": [{"effect": "ALLOW", "role": "viewer", "projects": ["*"]}]})
        self.open("/settings/policies")
        self.find("#policies-table")
        self.wait(lambda d: d.find_elements(By.CSS_SELECTOR, 'tr[data-policy-id="doomed-policy"]'),
                  message="listed")
        admin = self.row("#policies-table", "data-policy-id", "administrator-access")
        self.assertEqual(admin.find_element(By.CSS_SELECTOR, "td.type").text, "Chef-managed")
        self.assertEqual(admin.find_element(By.CSS_SELECTOR, "td.status").text, "In use")
        self.assertFalse(admin.find_elements(By.CSS_SELECTOR, "details.menu"))  # no delete
        doomed = self.row("#policies-table", "data-policy-id", "doomed-policy")
        self.assertEqual(doomed.find_element(By.CSS_SELECTOR, "td.type").text, "Custom")
        self.assertEqual(doomed.find_element(By.CSS_SELECTOR, "td.status").text, "No members")
        self.screenshot("policies-list")
        # Delete a custom policy, with confirmation naming it.
        self.row_menu(doomed, "Delete Policy").click()
        self.assertIn('"Doomed Policy"', self.find("#delete-policy-dialog").text)
        self.find("#delete-policy-dialog-cancel").click()
        self.gone("#delete-policy-dialog")
        self.assertEqual(self.server.api("GET", "/policies/doomed-policy")[0], 200)
        doomed = self.row("#policies-table", "data-policy-id", "doomed-policy")
        self.row_menu(doomed, "Delete Policy").click()
        self.find("#delete-policy-dialog-confirm").click()
        self.gone('#policies-table tr[data-policy-id="doomed-policy"]')
        self.assertEqual(self.server.api("GET", "/policies/doomed-policy")[0], 404)

    def test_2_definition_is_the_policy_json_and_copyable(self):
        self.open("/settings/policies/editor-access")
        self.wait_text("#policy-title", "Editors")
        self.assertEqual(self.text_of("#policy-type"), "Chef-managed")
        shown = json.loads(self.find("#policy-json").text)
        _, api = self.server.api("GET", "/policies/editor-access")
        self.assertEqual(shown, api["policy"])
        self.screenshot("policy-definition")
        self.find("#copy-json").click()
        self.page_has("Policy JSON copied to clipboard.")
        self.assertEqual(json.loads(self.clipboard()), api["policy"])

    def test_3_members_add_through_the_builder_and_remove(self):
        self.server.api("POST", "/tokens", {"id": "member-tok", "name": "Member Token"})
        self.server.api("POST", "/policies", {
            "id": "team-policy", "name": "Team Policy", "members": [],
            "statements": [{"effect": "ALLOW", "role": "viewer", "projects": ["*"]}]})
        self.open("/settings/policies/team-policy")
        self.wait_text("#policy-title", "Team Policy")
        self.find("#tab-members").click()
        self.find("#members-empty")
        self.find("#add-members").click()
        dialog = self.find("#add-members-dialog")
        # The existing tokens are offered.
        self.find('#member-tokens input[data-member="token:member-tok"]').click()
        # An expression: Team / LDAP / ops.
        self.find('#member-kind option[value="team"]').click()
        self.find('#member-provider option[value="ldap"]').click()
        self.find("#member-name").send_keys("ops")
        self.wait_text("#member-preview", "team:ldap:ops")
        self.find("#member-add-expression").click()
        self.wait_text("#member-pending", "team:ldap:ops")
        # An invalid one is refused before the server sees it.
        self.find('#member-kind option[value="user"]').click()
        self.find("#member-name").send_keys("a:b")
        self.find("#member-add-expression").click()
        self.wait_text("#member-error", "is not a valid member expression")
        self.screenshot("policy-add-members")
        self.find("#add-members-submit").click()
        self.gone("#add-members-dialog")
        self.find("#members-table")
        _, body = self.server.api("GET", "/policies/team-policy/members")
        self.assertEqual(body["members"], ["team:ldap:ops", "token:member-tok"])
        self.assertEqual(self.text_of("#policy-status"), "In use")
        self.screenshot("policy-members")
        # Remove Member, with confirmation.
        self.find('[data-remove-member="team:ldap:ops"]').click()
        self.assertIn("team:ldap:ops", self.find("#remove-member-dialog").text)
        self.find("#remove-member-dialog-confirm").click()
        self.gone('#members-table tr[data-member="team:ldap:ops"]')
        _, body = self.server.api("GET", "/policies/team-policy/members")
        self.assertEqual(body["members"], ["token:member-tok"])
        # The member's link leads to the token.
        self.find('#members-table tr[data-member="token:member-tok"] a').click()
        self.wait_text("#token-title", "Member Token")

    def test_9_no_request_left_the_origin(self):
        self.assert_same_origin()


if __name__ == "__main__":
    unittest.main()
