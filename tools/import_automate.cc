// `iamledger import automate --url URL --token-file F [--dry-run]
// [--data-dir DIR]`: copies a running Chef Automate's IAM v2 objects into
// this data directory (through the admin socket when a server runs, else
// offline), so existing clients keep working after the switch.
//
// What is copied: custom projects (without their generated policies: the
// source's own project policies come as custom policies), custom roles,
// custom policies (members, statements, projects), the members of
// chef-managed policies (added, never removed), and tokens with their
// values, active flags and projects (Automate's GET /tokens returns
// values). Order: projects, roles, tokens, policies, chef-managed members.
//
// Idempotent: an object that exists with the same content is skipped, so a
// re-run changes nothing; one that exists with different content is a
// conflict: reported on stdout, never overwritten, and the exit code is 1.
// --dry-run prints the same plan and writes nothing. Each line of stdout is
// "<action> <kind> <id>[: detail]" with action create, skip, add-members or
// conflict, then a summary line. Token values never appear.
#include <curl/curl.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "tools/commands.h"
#include "tools/local_api.h"

namespace iam::tools {
namespace {

using Json = nlohmann::json;

size_t Collect(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

// GET url + path with the api-token header; the parsed body of a 200.
StatusOr<Json> Fetch(const std::string& url, const std::string& token,
                     const std::string& path) {
  CURL* curl = curl_easy_init();
  if (curl == nullptr) return InternalError("curl_easy_init failed");
  std::string body;
  const std::string full = url + path;
  const std::string header = "api-token: " + token;
  curl_slist* headers = curl_slist_append(nullptr, header.c_str());
  curl_easy_setopt(curl, CURLOPT_URL, full.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, Collect);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, 60L);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  CURLcode rc = curl_easy_perform(curl);
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  if (rc != CURLE_OK) {
    return UnavailableError("GET " + full + ": " + curl_easy_strerror(rc));
  }
  Json j = Json::parse(body, nullptr, false);
  if (status != 200) {
    std::string msg = j.is_object() ? j.value("message", "") : "";
    return UnavailableError("GET " + full + ": HTTP " + std::to_string(status) +
                            (msg.empty() ? "" : ": " + msg));
  }
  if (!j.is_object()) {
    return DataLossError("GET " + full + ": the answer is not a JSON object");
  }
  return j;
}

bool IsCustom(const Json& obj) { return obj.value("type", "") == "CUSTOM"; }

// The fields an import compares, in a canonical form (order of lists as
// given; members sorted, as every member endpoint answers them).
Json Comparable(const std::string& kind, const Json& o) {
  if (kind == "project") return {{"name", o.value("name", "")}};
  if (kind == "role") {
    return {{"name", o.value("name", "")},
            {"actions", o.value("actions", Json::array())},
            {"projects", o.value("projects", Json::array())}};
  }
  if (kind == "token") {
    return {{"name", o.value("name", "")},
            {"value", o.value("value", "")},
            {"active", o.value("active", true)},
            {"projects", o.value("projects", Json::array())}};
  }
  std::vector<std::string> members =
      o.value("members", std::vector<std::string>{});
  std::sort(members.begin(), members.end());
  Json statements = Json::array();
  for (const Json& st : o.value("statements", Json::array())) {
    statements.push_back({{"effect", st.value("effect", "")},
                          {"actions", st.value("actions", Json::array())},
                          {"role", st.value("role", "")},
                          {"projects", st.value("projects", Json::array())}});
  }
  return {{"name", o.value("name", "")},
          {"members", members},
          {"statements", statements},
          {"projects", o.value("projects", Json::array())}};
}

// Which compared fields differ (never the value itself).
std::string Differences(const Json& a, const Json& b) {
  std::string out;
  for (auto it = a.begin(); it != a.end(); ++it) {
    if (!b.contains(it.key()) || b[it.key()] != it.value()) {
      out += (out.empty() ? "" : ", ") + it.key();
    }
  }
  return out;
}

struct Importer {
  LocalApi* target;
  bool dry_run;
  int created = 0, skipped = 0, conflicts = 0, added = 0;
  Status error;

  void Line(const std::string& action, const std::string& kind,
            const std::string& id, const std::string& detail = "") {
    std::printf("%s %s %s%s\n", action.c_str(), kind.c_str(), id.c_str(),
                detail.empty() ? "" : (": " + detail).c_str());
  }

  // The target's object, or null when it has none.
  StatusOr<Json> Existing(const std::string& collection,
                          const std::string& field, const std::string& id) {
    auto r = target->Call("GET", "/apis/iam/v2/" + collection + "/" + id, "");
    if (!r.ok()) return r.status();
    if (r->status == 404) return Json();
    if (r->status != 200) {
      return UnavailableError("reading " + collection + "/" + id + ": " +
                              ErrorText(*r));
    }
    Json j = Json::parse(r->body, nullptr, false);
    if (!j.is_object() || !j.contains(field)) {
      return DataLossError("unexpected answer for " + collection + "/" + id);
    }
    return j[field];
  }

  // Creates `body` at `collection` unless an equal object exists.
  void Import(const std::string& kind, const std::string& collection,
              const std::string& field, const Json& source, Json body) {
    if (!error.ok()) return;
    const std::string id = source.value("id", "");
    auto existing = Existing(collection, field, id);
    if (!existing.ok()) {
      error = existing.status();
      return;
    }
    if (!existing->is_null()) {
      const Json want = Comparable(kind, source);
      const Json have = Comparable(kind, *existing);
      if (want == have) {
        ++skipped;
        Line("skip", kind, id, "same content");
      } else {
        ++conflicts;
        Line("conflict", kind, id,
             "exists with different " + Differences(want, have) +
                 "; not overwritten");
      }
      return;
    }
    ++created;
    Line("create", kind, id);
    if (dry_run) return;
    auto r = target->Call("POST", "/apis/iam/v2/" + collection, body.dump());
    if (!r.ok()) {
      error = r.status();
    } else if (r->status != 200) {
      error = UnavailableError("creating " + kind + " " + id + ": " +
                               ErrorText(*r));
    }
  }

  // Adds the source's members missing from a chef-managed policy.
  void AddMembers(const Json& source) {
    if (!error.ok()) return;
    const std::string id = source.value("id", "");
    auto existing = Existing("policies", "policy", id);
    if (!existing.ok()) {
      error = existing.status();
      return;
    }
    if (existing->is_null()) {
      ++conflicts;
      Line("conflict", "policy", id, "chef-managed here but missing");
      return;
    }
    std::set<std::string> have;
    for (const Json& m : (*existing)["members"]) have.insert(m);
    Json missing = Json::array();
    for (const Json& m : source.value("members", Json::array())) {
      if (!have.count(m)) missing.push_back(m);
    }
    if (missing.empty()) {
      ++skipped;
      Line("skip", "policy-members", id, "all present");
      return;
    }
    ++added;
    Line("add-members", "policy", id, missing.dump());
    if (dry_run) return;
    auto r =
        target->Call("POST", "/apis/iam/v2/policies/" + id + "/members:add",
                     Json{{"members", missing}}.dump());
    if (!r.ok()) {
      error = r.status();
    } else if (r->status != 200) {
      error =
          UnavailableError("adding members to " + id + ": " + ErrorText(*r));
    }
  }
};

}  // namespace

int RunImportAutomate(const ImportFlags& flags) {
  std::ifstream in(flags.token_file);
  std::string token;
  if (!in || !std::getline(in, token)) {
    std::fprintf(stderr, "iamledger: cannot read a token from %s\n",
                 flags.token_file.c_str());
    return 1;
  }
  while (!token.empty() && (token.back() == '\r' || token.back() == ' ')) {
    token.pop_back();
  }
  std::string url = flags.url;
  while (!url.empty() && url.back() == '/') url.pop_back();
  curl_global_init(CURL_GLOBAL_DEFAULT);
  Json projects, roles, policies, tokens;
  for (auto [path, out] : {std::pair{"/apis/iam/v2/projects", &projects},
                           std::pair{"/apis/iam/v2/roles", &roles},
                           std::pair{"/apis/iam/v2/policies", &policies},
                           std::pair{"/apis/iam/v2/tokens", &tokens}}) {
    auto j = Fetch(url, token, path);
    if (!j.ok()) {
      std::fprintf(stderr, "iamledger: reading the source failed: %s\n",
                   j.status().message().c_str());
      return 1;
    }
    *out = std::move(*j);
  }
  auto api = LocalApi::Connect({flags.data_dir, flags.key_file});
  if (!api.ok()) {
    std::fprintf(stderr, "iamledger: %s\n", api.status().message().c_str());
    return 1;
  }
  Importer im{api->get(), flags.dry_run, 0, 0, 0, 0, OkStatus()};
  for (const Json& p : projects.value("projects", Json::array())) {
    if (!IsCustom(p)) continue;
    im.Import("project", "projects", "project", p,
              {{"id", p.value("id", "")},
               {"name", p.value("name", "")},
               {"skip_policies", true}});
  }
  for (const Json& r : roles.value("roles", Json::array())) {
    if (!IsCustom(r)) continue;
    im.Import("role", "roles", "role", r,
              {{"id", r.value("id", "")},
               {"name", r.value("name", "")},
               {"actions", r.value("actions", Json::array())},
               {"projects", r.value("projects", Json::array())}});
  }
  for (const Json& t : tokens.value("tokens", Json::array())) {
    im.Import("token", "tokens", "token", t,
              {{"id", t.value("id", "")},
               {"name", t.value("name", "")},
               {"value", t.value("value", "")},
               {"active", t.value("active", true)},
               {"projects", t.value("projects", Json::array())}});
  }
  for (const Json& p : policies.value("policies", Json::array())) {
    if (IsCustom(p)) {
      Json statements = Json::array();
      for (const Json& st : p.value("statements", Json::array())) {
        Json s = st;
        s.erase("resources");  // recorded as ["*"]; not accepted on create
        statements.push_back(std::move(s));
      }
      im.Import("policy", "policies", "policy", p,
                {{"id", p.value("id", "")},
                 {"name", p.value("name", "")},
                 {"members", p.value("members", Json::array())},
                 {"statements", statements},
                 {"projects", p.value("projects", Json::array())}});
    } else {
      im.AddMembers(p);
    }
  }
  if (!im.error.ok()) {
    std::fprintf(stderr, "iamledger: import stopped: %s\n",
                 im.error.message().c_str());
    return 1;
  }
  std::printf("%s: %d created, %d member additions, %d skipped, %d conflicts\n",
              flags.dry_run ? "plan" : "imported", im.created, im.added,
              im.skipped, im.conflicts);
  return im.conflicts > 0 ? 1 : 0;
}

}  // namespace iam::tools
