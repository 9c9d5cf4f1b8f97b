#include "core/ids.h"

#include <algorithm>

namespace iam {
namespace {

bool IsIdChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_';
}
bool IsLower(char c) { return c >= 'a' && c <= 'z'; }
bool IsAlpha(char c) { return IsLower(c) || (c >= 'A' && c <= 'Z'); }

// [a-z][a-zA-Z]*  (with_dash: [a-z][-a-zA-Z]*)
bool IsSegment(std::string_view s, bool with_dash = false) {
  if (s.empty() || !IsLower(s[0])) return false;
  return std::all_of(s.begin() + 1, s.end(), [&](char c) {
    return IsAlpha(c) || (with_dash && c == '-');
  });
}

// [^:*]+
bool IsName(std::string_view s) {
  return !s.empty() && s.find_first_of(":*") == std::string_view::npos;
}

bool IsIdOfLength(std::string_view id, size_t max) {
  return !id.empty() && id.size() <= max &&
         std::all_of(id.begin(), id.end(), IsIdChar);
}

// Splits on ':' into at most 4 parts; returns the number of parts.
int Split(std::string_view s, std::string_view parts[4]) {
  int n = 0;
  while (n < 4) {
    size_t colon = s.find(':');
    if (colon == std::string_view::npos) {
      parts[n++] = s;
      return n;
    }
    parts[n++] = s.substr(0, colon);
    s.remove_prefix(colon + 1);
  }
  return 5;  // more than four parts
}

}  // namespace

bool IsValidId(std::string_view id) { return IsIdOfLength(id, 64); }
bool IsValidProjectId(std::string_view id) { return IsIdOfLength(id, 48); }
bool IsValidStatementRole(std::string_view role) {
  return role.empty() || IsValidId(role);
}

bool IsValidAction(std::string_view action) {
  std::string_view p[4];
  int n = Split(action, p);
  if (n == 1) return p[0] == "*";
  if (n == 2) {
    if (p[0] == "*") return IsSegment(p[1], /*with_dash=*/true);
    return IsSegment(p[0]) && p[1] == "*";
  }
  if (n == 3) {
    if (!IsSegment(p[0])) return false;
    if (p[1] == "*") return IsSegment(p[2]);
    return IsSegment(p[1]) && (p[2] == "*" || IsSegment(p[2]));
  }
  return false;
}

bool IsValidMember(std::string_view member) {
  if (member == "*") return true;
  std::string_view p[4];
  int n = Split(member, p);
  const bool team_or_user = p[0] == "team" || p[0] == "user";
  if (n == 2) {
    if (p[1] == "*") return team_or_user || p[0] == "token" || p[0] == "tls";
    return p[0] == "token" && IsName(p[1]);
  }
  if (n == 3) {
    if (team_or_user) {
      return (p[1] == "local" || p[1] == "ldap" || p[1] == "saml") &&
             (IsName(p[2]) || p[2] == "*");
    }
    return p[0] == "tls" && p[1] == "service" && (IsName(p[2]) || p[2] == "*");
  }
  if (n == 4) {
    return p[0] == "tls" && p[1] == "service" && IsName(p[2]) &&
           (IsName(p[3]) || p[3] == "*");
  }
  return false;
}

bool IsBlank(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' ||
           c == '\v';
  });
}

std::string DeriveIdFromName(std::string_view name) {
  std::string id;
  for (size_t i = 0; i < name.size();) {
    unsigned char c = static_cast<unsigned char>(name[i]);
    size_t len = 1;  // bytes of this UTF-8 code point
    if (c >= 0xF0)
      len = 4;
    else if (c >= 0xE0)
      len = 3;
    else if (c >= 0xC0)
      len = 2;
    char lower = (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32)
                                        : static_cast<char>(c);
    if (len == 1 &&
        ((lower >= 'a' && lower <= 'z') || (lower >= '0' && lower <= '9'))) {
      id.push_back(lower);
    } else {
      id.push_back('-');
    }
    i += std::min(len, name.size() - i);
  }
  if (id.size() > 64) id.resize(64);
  return id;
}

}  // namespace iam
