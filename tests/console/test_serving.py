"""The console as served by `iamledger serve`: routes, embedded assets and
their headers, over plain HTTP and TLS (no browser needed)."""
import re
import unittest

from harness import Server

SHELL_ROUTES = ["/settings/tokens", "/settings/tokens/some-id", "/settings/policies",
                "/settings/policies/viewer-access", "/settings/activity"]


class Serving(unittest.TestCase):
    tls = False

    @classmethod
    def setUpClass(cls):
        cls.server = Server(tls=cls.tls)

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def assert_security_headers(self, headers):
        csp = headers["Content-Security-Policy"]
        self.assertIn("default-src 'none'", csp)
        self.assertIn("script-src 'self'", csp)
        self.assertIn("style-src 'self'", csp)
        self.assertIn("connect-src 'self'", csp)
        self.assertIn("frame-ancestors 'none'", csp)
        self.assertNotIn("unsafe-inline", csp)
        self.assertNotIn("unsafe-eval", csp)
        self.assertEqual(headers["X-Frame-Options"], "DENY")
        self.assertEqual(headers["X-Content-Type-Options"], "nosniff")

    def test_root_redirects_to_tokens(self):
        for path in ["/", "/?x=1", "/settings"]:
            status, headers, _ = self.server.request("GET", path)
            self.assertEqual(status, 302, path)
            self.assertEqual(headers["Location"], "/settings/tokens")
            self.assert_security_headers(headers)

    def test_shell_routes_serve_the_app_and_revalidate(self):
        bodies = set()
        for path in SHELL_ROUTES:
            status, headers, body = self.server.request("GET", path)
            self.assertEqual(status, 200, path)
            self.assertEqual(headers["Content-Type"], "text/html; charset=utf-8")
            self.assertEqual(headers["Cache-Control"], "no-cache")
            self.assert_security_headers(headers)
            etag = headers["ETag"]
            self.assertRegex(etag, r'^"[0-9a-f]{16}"$')
            bodies.add(body)
            status, headers2, body2 = self.server.request("GET", path, headers={"If-None-Match": etag})
            self.assertEqual(status, 304)
            self.assertEqual(body2, b"")
            self.assertEqual(headers2["ETag"], etag)
        self.assertEqual(len(bodies), 1)
        html = bodies.pop().decode()
        self.assertNotIn("<script>", html)  # no inline script
        self.assertNotIn("<style", html)
        self.assertNotIn(" style=", html)
        self.assertNotRegex(html, r"https?://")  # nothing from elsewhere

    def test_assets_are_embedded_and_immutable_under_the_build_id(self):
        _, _, body = self.server.request("GET", "/settings/tokens")
        refs = re.findall(r'(?:src|href)="(/console/[^"]+)"', body.decode())
        self.assertEqual(len(refs), 2, refs)
        build = refs[0].split("/")[2]
        self.assertRegex(build, r"^[0-9a-f]{16}$")
        for ref in refs + [f"/console/{build}/tokens.js", f"/console/{build}/dom.js"]:
            status, headers, data = self.server.request("GET", ref)
            self.assertEqual(status, 200, ref)
            self.assertIn("immutable", headers["Cache-Control"])
            self.assertIn("max-age=31536000", headers["Cache-Control"])
            self.assertTrue(headers["Content-Type"].startswith(
                "text/javascript" if ref.endswith(".js") else "text/css"))
            self.assert_security_headers(headers)
            self.assertGreater(len(data), 100)
            # The same file without the build id: revalidated with its ETag.
            status, h2, d2 = self.server.request("GET", "/console/" + ref.split("/", 3)[3])
            self.assertEqual((status, d2), (200, data))
            self.assertEqual(h2["Cache-Control"], "no-cache")
            status, _, _ = self.server.request("GET", "/console/" + ref.split("/", 3)[3],
                                               headers={"If-None-Match": h2["ETag"]})
            self.assertEqual(status, 304)
            # Every module the app imports is served too.
            for imp in re.findall(rb"from '\./([a-z]+\.js)'", data):
                status, _, _ = self.server.request("GET", f"/console/{build}/{imp.decode()}")
                self.assertEqual(status, 200, imp)

    def test_unknown_assets_and_methods(self):
        for path in ["/console/", "/console/nope.js", "/console/index.html",
                     "/console/0000000000000000/app.js"]:
            status, headers, _ = self.server.request("GET", path)
            self.assertEqual(status, 404, path)
            self.assert_security_headers(headers)
        status, headers, _ = self.server.request("POST", "/settings/tokens", body={})
        self.assertEqual(status, 405)
        self.assertEqual(headers["Allow"], "GET")
        # Paths the console does not own still reach the API's router.
        status, _, _ = self.server.request("GET", "/settings/tokens/a/b")
        self.assertEqual(status, 404)
        status, _, body = self.server.request("GET", "/healthz")
        self.assertEqual((status, body), (200, b'{"status":"ok"}'))
        status, _, _ = self.server.request("GET", "/apis/iam/v2/tokens")
        self.assertEqual(status, 401)


class ServingOverTls(Serving):
    tls = True


if __name__ == "__main__":
    unittest.main()
