"""Activity: the change feed tailed live (GET /events?wait=), filterable
by object and actor."""
import time
import unittest

from selenium.webdriver.common.by import By

from harness import ConsoleCase


class Activity(ConsoleCase):

    def rows(self):
        return self.driver.find_elements(By.CSS_SELECTOR, "#activity-table tbody tr")

    def test_1_new_events_appear_without_reload_and_filter(self):
        self.sign_in(self.server.admin, path="/settings/activity")
        self.find("#activity-table")
        self.wait_text("#activity-state", "Live")
        marker = self.driver.execute_script("return window.performance.timeOrigin")
        before = len(self.rows())
        self.assertGreater(before, 5)  # the defaults, the admin token
        time.sleep(0.5)  # the tail is now parked in a long-poll
        # A change made elsewhere shows up in place.
        status, _ = self.server.api("POST", "/tokens", {"id": "live-one", "name": "Live One"})
        self.assertEqual(status, 200)
        self.wait(lambda d: any("token/live-one" in r.text for r in self.rows()), message="live event")
        top = self.rows()[0]
        self.assertIn("TokenCreated", top.text)
        self.assertEqual(top.find_element(By.CSS_SELECTOR, "td.actor").text, "token:admin")
        # Same document: no reload happened.
        self.assertEqual(self.driver.execute_script("return window.performance.timeOrigin"), marker)
        self.screenshot("activity")
        # Another actor: a token of its own, in the admin policy.
        other = self.server.create_token("second-admin", admin=True)
        self.server.api("PUT", "/tokens/live-one", {"name": "Live Renamed"}, token=other)
        self.wait(lambda d: any("TokenRenamed" in r.text for r in self.rows()), message="rename")
        # Filter by object.
        obj = self.find("#activity-object")
        obj.send_keys("token/live-one")
        self.wait(lambda d: self.rows() and all("token/live-one" in r.text for r in self.rows()),
                  message="object filter")
        self.assertEqual(len(self.rows()), 2)
        # And by actor.
        self.find("#activity-actor").send_keys("token:second-admin")
        self.wait(lambda d: len(self.rows()) == 1 and "TokenRenamed" in self.rows()[0].text,
                  message="actor filter")
        self.find("#activity-actor").send_keys("-nobody")
        self.find("#activity-empty")
        # The long-poll really was used.
        self.collect_requests()
        self.assertTrue(any("/apis/iam/v2/events?" in u and "wait=30" in u for u, _ in self.requests))

    def test_9_no_request_left_the_origin(self):
        self.assert_same_origin()


if __name__ == "__main__":
    unittest.main()
