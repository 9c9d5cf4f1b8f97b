// Who is asking, and within which projects: the input every decision and
// read needs besides the state (automate-iam-v2.md §4.1, §4.5, §4.6).
#ifndef IAMLEDGER_CORE_CALLER_H_
#define IAMLEDGER_CORE_CALLER_H_

#include <functional>
#include <string>
#include <vector>

#include "core/events.h"

namespace iam {

// The authorized project list of §4.1 applied to objects' own projects
// (§4.6). `all` means "no filtering" (the engine's ["*"]).
struct ProjectFilter {
  bool all = true;
  StringList projects;  // may contain "(unassigned)"

  // visible(obj) = all, or obj.projects ∩ projects ≠ ∅, or
  // (obj.projects == [] and "(unassigned)" ∈ projects).
  bool Visible(const StringList& object_projects) const;
};

struct Caller {
  StringList subjects;   // {"token:ci-bot"}, {"local:admin"}
  ProjectFilter filter;  // from the request's authorization
  // True when the subjects hold iam:projects:assign for `project` (which may
  // be "(unassigned)"). Null means "may assign everything".
  std::function<bool(const std::string& project)> may_assign;
};

}  // namespace iam

#endif  // IAMLEDGER_CORE_CALLER_H_
